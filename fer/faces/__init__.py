"""Finding faces and lining them up: the detectors behind one protocol (``fer.faces.detectors``) and
the eyes-level framing of a face crop (``align``)."""
