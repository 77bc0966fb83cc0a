package local

import (
	"context"
	"testing"

	"cairn/internal/store"
	"cairn/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), Options{Root: t.TempDir(), ReservedSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
