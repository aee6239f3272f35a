"""Evaluating verification: labelled pairs in, ROC / EER / TAR@FAR / accuracy out."""
