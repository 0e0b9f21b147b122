"""Monitoring and reporting: TensorBoard events and the self-contained HTML run report."""
