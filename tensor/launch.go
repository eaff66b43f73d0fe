package tensor

import (
	"fmt"

	"github.com/tessera-ml/tessera/vk"
)

// inputs checks an op's inputs: it panics on programmer errors (nil, two
// engines) and returns the first input's error, so failures propagate.
func inputs(op string, ts ...*Tensor) (*Engine, error) {
	var e *Engine
	for i, t := range ts {
		if t == nil {
			panic(fmt.Sprintf("tensor.%s: input %d is nil", op, i))
		}
		if e == nil {
			e = t.eng
		} else if t.eng != e {
			panic(fmt.Sprintf("tensor.%s: inputs from two engines", op))
		}
		if t.err != nil {
			return e, t.err
		}
		if t.released {
			panic(fmt.Sprintf("tensor.%s: input %d %v was released", op, i, t.shape))
		}
	}
	return e, nil
}

// run records one dispatch of spec, recording any error on the engine.
func (e *Engine) run(spec vk.KernelSpec, consts []uint32, groups [3]uint32, push []uint32, work vk.Work, args ...vk.Arg) {
	k, err := e.dev.Kernel(spec, consts...)
	if err != nil {
		e.fail(err)
		return
	}
	e.dev.Dispatch(k, groups, push, work, args...)
}

// in, out and inout are a tensor's storage as a kernel argument.
func in(t *Tensor) vk.Arg    { return vk.In(t.st.r) }
func out(t *Tensor) vk.Arg   { return vk.Out(t.st.r) }
func inout(t *Tensor) vk.Arg { return vk.InOut(t.st.r) }

// groups1D is the grid for n elements at the engine's workgroup size.
func (e *Engine) groups1D(n int) [3]uint32 { return e.dev.Groups1D(n, e.wg) }

// normAxis resolves a possibly negative axis against rank.
func normAxis(op string, axis, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, shapeErr(op, "axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}

func u32(v int) uint32 { return uint32(v) }
