"""Image classification: a folder of class subfolders of images (or a zip, or a CSV of paths) trains a classifier."""
