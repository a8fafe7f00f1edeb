use burn::nn::PaddingConfig2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

use super::blocks::{BasicBlock, ConvBnRelu};
use super::config::ModelConfig;

/// The edge half: a ResNet-style encoder whose last stage is the bottleneck. Its output
/// ends in ReLU (non-negative, sparse), which is what the feature codecs expect.
#[derive(Module, Debug)]
pub struct Edge {
    stem: ConvBnRelu,
    pool: Option<MaxPool2d>,
    blocks: Vec<BasicBlock>,
}

impl Edge {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let stem = ConvBnRelu::new(3, config.stem_channels, config.stem_kernel, 2, device);
        let pool = config.stem_max_pool.then(|| {
            MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init()
        });
        let mut blocks = Vec::new();
        let mut cin = config.stem_channels;
        for stage in &config.stages {
            for i in 0..stage.blocks {
                let stride = if i == 0 { stage.stride } else { 1 };
                blocks.push(BasicBlock::new(cin, stage.channels, stride, device));
                cin = stage.channels;
            }
        }
        Self { stem, pool, blocks }
    }

    /// `[batch, 3, H, W]` normalised images to `[batch, C, H/d, W/d]` features.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = self.stem.forward(images);
        if let Some(pool) = &self.pool {
            x = pool.forward(x);
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        x
    }
}
