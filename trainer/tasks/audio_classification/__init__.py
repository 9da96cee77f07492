"""Audio classification: a folder of class subfolders of sounds (or a zip, or a CSV of paths) trains a classifier."""
