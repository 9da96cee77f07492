"""Classifying media files (images, sounds): what every modality shares."""
