"""The course's ideas as small computations the Concepts page shows: conv output shapes, the 2-D
triplet-loss toy, the quiz and the live computations behind its answers, 1-D / 3-D signals."""
