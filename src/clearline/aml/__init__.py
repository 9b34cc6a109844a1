"""Anti-money-laundering: sanctions and PEP screening (`aml.screening`); transaction monitoring,
alerts, cases and regulatory reports come with their issues."""
