package tensor

// Scope owns the tensors created while it is the engine's innermost scope.
type Scope struct {
	eng     *Engine
	tensors []*Tensor
	closed  bool
}

// Scope opens a new innermost scope. Close it (typically deferred) to
// release every tensor created in it that was not kept.
func (e *Engine) Scope() *Scope {
	s := &Scope{eng: e}
	e.scopes = append(e.scopes, s)
	return s
}

func (e *Engine) own(t *Tensor) {
	if n := len(e.scopes); n > 0 {
		s := e.scopes[n-1]
		s.tensors = append(s.tensors, t)
	}
}

// Keep moves ts out of s into the enclosing scope (or, from the outermost
// scope, leaves them owned by the caller, who must Release them).
func (s *Scope) Keep(ts ...*Tensor) {
	keep := make(map[*Tensor]bool, len(ts))
	for _, t := range ts {
		keep[t] = true
	}
	kept := s.tensors[:0]
	var moved []*Tensor
	for _, t := range s.tensors {
		if keep[t] {
			moved = append(moved, t)
			continue
		}
		kept = append(kept, t)
	}
	s.tensors = kept
	e := s.eng
	for i := len(e.scopes) - 1; i > 0; i-- {
		if e.scopes[i] == s {
			parent := e.scopes[i-1]
			parent.tensors = append(parent.tensors, moved...)
			return
		}
	}
}

// Close releases the scope's tensors and pops it (and any scope opened
// inside it and left open).
func (s *Scope) Close() {
	if s.closed {
		return
	}
	s.closed = true
	e := s.eng
	for i := len(e.scopes) - 1; i >= 0; i-- {
		if e.scopes[i] == s {
			for j := len(e.scopes) - 1; j > i; j-- {
				e.scopes[j].Close()
			}
			e.scopes = e.scopes[:i]
			break
		}
	}
	for _, t := range s.tensors {
		if !t.persist {
			t.Release()
		}
	}
	s.tensors = nil
}
