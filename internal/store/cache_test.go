package store

import (
	"fmt"
	"testing"
	"time"
)

// TestCacheCountsEveryEntry: the memory ceiling counts what an entry
// costs beyond its bytes, so that empty files cannot grow the cache past
// it (they used to count as nothing).
func TestCacheCountsEveryEntry(t *testing.T) {
	c := NewCache(nil)
	now := time.Now()
	for i := range 100_000 {
		name := fmt.Sprintf("empty-%06d", i)
		c.add(name, nil, Info{}, c.gen.Load(), now)
	}
	if max := maxCacheBytes / (cachedFileOverhead + len("empty-000000")); len(c.entries) > max {
		t.Errorf("%d empty files cached, want at most %d within %d bytes", len(c.entries), max, maxCacheBytes)
	}
	if c.size > maxCacheBytes {
		t.Errorf("cache size %d, over its ceiling %d", c.size, maxCacheBytes)
	}
}
