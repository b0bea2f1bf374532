"""Pipeline stages, one module each: propose, filters, classify, instances."""
