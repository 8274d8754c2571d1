package verdicts

import "maps"

// SetUsage records the usage, in bytes by mailbox address, that server's
// replicas last reported (the status ConfigMaps' config.StatusUsageKey)
// and returns the addresses whose usage differs from what was recorded
// before, including addresses no longer reported. A nil used records
// nothing and returns nothing: the replicas have not measured yet. Like
// SetServedHash it does nothing before the namespace's first Publish.
func (s *Store) SetUsage(ns, server string, used map[string]int64) []string {
	if used == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	nv := s.namespaces[ns]
	if nv == nil {
		return nil
	}
	old := nv.usage[server]
	var changed []string
	for addr, n := range used {
		if o, ok := old[addr]; !ok || o != n {
			changed = append(changed, addr)
		}
	}
	for addr := range old {
		if _, ok := used[addr]; !ok {
			changed = append(changed, addr)
		}
	}
	nv.usage[server] = maps.Clone(used)
	return changed
}

// Usage returns the latest usage reported for the mailbox address in ns,
// and false when no replica reported it.
func (s *Store) Usage(ns, address string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nv := s.namespaces[ns]
	if nv == nil {
		return 0, false
	}
	for _, used := range nv.usage {
		if n, ok := used[address]; ok {
			return n, true
		}
	}
	return 0, false
}
