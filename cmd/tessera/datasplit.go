package main

import (
	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/data"
)

// splitSpec describes the train/held-out split of a training command.
type splitSpec struct {
	Data     string // data.Open's description
	Size     int    // image side the model takes
	Channels int    // image channels the model takes
	Train    int    // training images: the first Train (0: 80%)
	Holdout  int    // held-out images: the last Holdout (0: all after the training ones)
	Batch    int
	SkipBad  bool
	Seed     uint64
	Model    string // the model's name, for errors
}

// openSplit opens the training part (with training transforms) and the
// held-out rest of a data set.
func openSplit(s splitSpec) (train, eval data.Dataset, err error) {
	opts := data.OpenOptions{Size: s.Size, Channels: s.Channels, SkipBad: s.SkipBad, Seed: s.Seed}
	evalAll, err := data.Open(s.Data, opts)
	if err != nil {
		return nil, nil, err
	}
	opts.Train = true // image folders: random crops and flips for training
	trainAll, err := data.Open(s.Data, opts)
	if err != nil {
		return nil, nil, err
	}
	if c, h, w := trainAll.Shape(); c != s.Channels || h != s.Size || w != s.Size {
		return nil, nil, cli.Usagef("--data gives %d×%d×%d images but %s takes %d×%d×%d", c, h, w, s.Model, s.Channels, s.Size, s.Size)
	}
	n := s.Train
	if n == 0 {
		n = trainAll.Len() * 4 / 5
	}
	if n < s.Batch || n >= trainAll.Len() {
		return nil, nil, cli.Usagef("need --batch ≤ --train < %d (the data set's size)", trainAll.Len())
	}
	if train, err = data.Range(trainAll, 0, n); err != nil {
		return nil, nil, err
	}
	from := n
	if s.Holdout > 0 {
		if s.Holdout > evalAll.Len()-n {
			return nil, nil, cli.Usagef("--holdout %d overlaps the %d training images of %d", s.Holdout, n, evalAll.Len())
		}
		from = evalAll.Len() - s.Holdout
	}
	if eval, err = data.Range(evalAll, from, evalAll.Len()); err != nil {
		return nil, nil, err
	}
	return train, eval, nil
}
