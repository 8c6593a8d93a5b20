"""Finding faces and lining them up: detectors, alignment, tracking."""
