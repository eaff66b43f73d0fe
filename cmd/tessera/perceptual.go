package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/cli"
	"github.com/tessera-ml/tessera/models/coda"
	"github.com/tessera-ml/tessera/models/perceptual"
	"github.com/tessera-ml/tessera/models/vae"
)

// percFlags choose the perceptual loss and the FID feature network.
type percFlags struct {
	kind, vgg, lin, inception string
}

func (p *percFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.kind, "perceptual", "auto", "perceptual loss: lpips (needs --lpips-vgg and --lpips-lin), features (the embedded Fashion-MNIST classifier's), off, or auto (lpips when its files are given, else features)")
	fs.StringVar(&p.vgg, "lpips-vgg", "", "torchvision VGG16 weights (vgg16-397923af.pth) for LPIPS")
	fs.StringVar(&p.lin, "lpips-lin", "", "LPIPS linear heads (lpips' weights/v0.1/vgg.pth)")
	p.registerFID(fs)
}

func (p *percFlags) registerFID(fs *flag.FlagSet) {
	fs.StringVar(&p.inception, "inception", "", "Inception-v3 FID weights (pytorch-fid's pt_inception-2015-12-05-*.pth); default: the embedded classifier's features")
}

// open returns the perceptual loss the flags choose (nil for off).
func (p *percFlags) open(tp *autograd.Tape, cfg vae.Config, log io.Writer) (coda.Perceptual, error) {
	kind := p.kind
	if kind == "auto" {
		kind = "features"
		if p.vgg != "" || p.lin != "" {
			kind = "lpips"
		}
	}
	switch kind {
	case "off":
		return nil, nil
	case "lpips":
		if p.vgg == "" || p.lin == "" {
			return nil, cli.Usagef("LPIPS needs both --lpips-vgg and --lpips-lin")
		}
		l, err := perceptual.LoadLPIPS(tp, p.vgg, p.lin)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "perceptual loss: LPIPS (VGG16) from %s and %s\n", p.vgg, p.lin)
		return l, nil
	case "features":
		c, err := perceptual.PretrainedClassifier(tp)
		if err != nil {
			return nil, err
		}
		f := perceptual.NewFeatureLoss(c)
		fmt.Fprintf(log, "perceptual loss: %s (no LPIPS weights given)\n", f.Name())
		return f, nil
	}
	return nil, cli.Usagef("--perceptual must be auto, lpips, features or off, not %q", p.kind)
}

// features returns the FID feature network the flags choose.
func (p *percFlags) features(tp *autograd.Tape, log io.Writer) (coda.FeatureNet, error) {
	if p.inception != "" {
		f, err := perceptual.LoadInception(tp, p.inception)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "FID features: %s from %s\n", f.Name(), p.inception)
		return f, nil
	}
	f, err := perceptual.PretrainedClassifier(tp)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "FID features: %s (no --inception weights given; not comparable with Inception FIDs)\n", f.Name())
	return f, nil
}
