"""dlib's face models (detector, landmarks, chips, embedder) run in PyTorch / numpy."""
