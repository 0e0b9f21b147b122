"""The training doctor: probes measure a run cheaply; rules turn measurements into findings."""
