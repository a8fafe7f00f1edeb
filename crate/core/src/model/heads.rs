use burn::nn::conv::ConvTranspose2d;
use burn::prelude::*;

use super::blocks::{UpBlock, upsample};
use super::config::ModelConfig;
use crate::classes::NUM_CLASSES;

/// A task decoder: upsampling blocks back to the input resolution, then a 2x2
/// stride-2 transposed convolution to the task's output channels.
#[derive(Module, Debug)]
pub struct Decoder {
    blocks: Vec<UpBlock>,
    output: ConvTranspose2d,
}

impl Decoder {
    pub fn new(config: &ModelConfig, out_channels: usize, device: &Device) -> Self {
        let mut cin = config.bottleneck_shape()[0];
        let mut blocks = Vec::new();
        for &c in &config.head_channels {
            blocks.push(UpBlock::new(cin, c, device));
            cin = c;
        }
        Self {
            blocks,
            output: upsample(cin, out_channels, true, device),
        }
    }

    pub fn forward(&self, features: Tensor<4>) -> Tensor<4> {
        let mut x = features;
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.output.forward(x)
    }
}

/// The cloud half: three task heads fed the same decoded bottleneck.
#[derive(Module, Debug)]
pub struct CloudHeads {
    pub segmentation: Decoder,
    pub disparity: Decoder,
    pub reconstruction: Decoder,
}

/// Raw head outputs at input resolution.
#[derive(Debug, Clone)]
pub struct HeadOutputs {
    /// `[batch, 19, H, W]` class logits.
    pub segmentation: Tensor<4>,
    /// `[batch, 1, H, W]` disparity divided by [`crate::image::DISPARITY_SCALE`].
    pub disparity: Tensor<4>,
    /// `[batch, 3, H, W]` RGB in [0, 1] (unclamped).
    pub reconstruction: Tensor<4>,
}

impl CloudHeads {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        Self {
            segmentation: Decoder::new(config, NUM_CLASSES, device),
            disparity: Decoder::new(config, 1, device),
            reconstruction: Decoder::new(config, 3, device),
        }
    }

    pub fn forward(&self, features: Tensor<4>) -> HeadOutputs {
        HeadOutputs {
            segmentation: self.segmentation.forward(features.clone()),
            disparity: self.disparity.forward(features.clone()),
            reconstruction: self.reconstruction.forward(features),
        }
    }
}
