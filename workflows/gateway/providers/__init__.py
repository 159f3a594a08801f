"""Model providers behind one small interface; each module adapts one real client library."""
