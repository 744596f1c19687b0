// PLACEHOLDER (lead): replaced by the numerics helper
