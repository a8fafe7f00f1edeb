use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Convolution, batch norm, ReLU: the unit every block is made of.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBnRelu {
    pub fn new(cin: usize, cout: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv(cin, cout, kernel, stride, device),
            norm: BatchNormConfig::new(cout).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.norm.forward(self.conv.forward(x)))
    }
}

fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([cin, cout], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// ResNet basic block (two 3x3 convolutions and an identity or 1x1 projection
/// shortcut), ending in ReLU so its output is non-negative.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: ConvBnRelu,
    conv2: Conv2d,
    norm2: BatchNorm,
    shortcut: Option<Shortcut>,
}

#[derive(Module, Debug)]
struct Shortcut {
    conv: Conv2d,
    norm: BatchNorm,
}

impl BasicBlock {
    pub fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let shortcut = (cin != cout || stride != 1).then(|| Shortcut {
            conv: conv(cin, cout, 1, stride, device),
            norm: BatchNormConfig::new(cout).init(device),
        });
        Self {
            conv1: ConvBnRelu::new(cin, cout, 3, stride, device),
            conv2: conv(cout, cout, 3, 1, device),
            norm2: BatchNormConfig::new(cout).init(device),
            shortcut,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.shortcut {
            Some(s) => s.norm.forward(s.conv.forward(x.clone())),
            None => x.clone(),
        };
        let y = self
            .norm2
            .forward(self.conv2.forward(self.conv1.forward(x)));
        relu(y + identity)
    }
}

/// Decoder block: 2x2 stride-2 transposed convolution (doubles the resolution), then
/// a 3x3 convolution, each followed by batch norm and ReLU.
#[derive(Module, Debug)]
pub struct UpBlock {
    up: ConvTranspose2d,
    up_norm: BatchNorm,
    refine: ConvBnRelu,
}

impl UpBlock {
    pub fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Self {
            up: upsample(cin, cout, false, device),
            up_norm: BatchNormConfig::new(cout).init(device),
            refine: ConvBnRelu::new(cout, cout, 3, 1, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.refine
            .forward(relu(self.up_norm.forward(self.up.forward(x))))
    }
}

/// A 2x2 stride-2 transposed convolution: each output pixel sees exactly one input
/// pixel, so it upsamples at a cost of `cin * cout` MACs per output pixel.
pub(crate) fn upsample(cin: usize, cout: usize, bias: bool, device: &Device) -> ConvTranspose2d {
    ConvTranspose2dConfig::new([cin, cout], [2, 2])
        .with_stride([2, 2])
        .with_bias(bias)
        .init(device)
}
