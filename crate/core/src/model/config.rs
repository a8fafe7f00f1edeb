use serde::{Deserialize, Serialize};

/// A named architecture. The same names identify models in training, evaluation, the
/// zoo manifest and the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The paper's network: ResNet-34 front at 256x512, 512x8x16 bottleneck.
    Paper,
    /// The shipped default: a small ResNet-style encoder at 128x256 with a 64x8x16
    /// bottleneck, sized so that training on two CPU cores is practical.
    Tiny,
    /// A minimal network at 32x64 for fast tests.
    Test,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Paper, Preset::Tiny, Preset::Test];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Tiny => "tiny",
            Preset::Test => "test",
        }
    }

    pub fn config(self) -> ModelConfig {
        match self {
            Preset::Paper => ModelConfig {
                preset: self,
                input_height: 256,
                input_width: 512,
                stem_channels: 64,
                stem_kernel: 7,
                stem_max_pool: true,
                stages: vec![
                    StageConfig { channels: 64, blocks: 3, stride: 1 },
                    StageConfig { channels: 128, blocks: 4, stride: 2 },
                    StageConfig { channels: 256, blocks: 6, stride: 2 },
                    StageConfig { channels: 512, blocks: 3, stride: 2 },
                ],
                head_channels: vec![256, 128, 64, 32],
            },
            Preset::Tiny => ModelConfig {
                preset: self,
                input_height: 128,
                input_width: 256,
                stem_channels: 24,
                stem_kernel: 3,
                stem_max_pool: false,
                stages: vec![
                    StageConfig { channels: 32, blocks: 1, stride: 2 },
                    StageConfig { channels: 48, blocks: 1, stride: 2 },
                    StageConfig { channels: 64, blocks: 1, stride: 2 },
                ],
                head_channels: vec![48, 32, 24],
            },
            Preset::Test => ModelConfig {
                preset: self,
                input_height: 32,
                input_width: 64,
                stem_channels: 8,
                stem_kernel: 3,
                stem_max_pool: false,
                stages: vec![
                    StageConfig { channels: 12, blocks: 1, stride: 2 },
                    StageConfig { channels: 16, blocks: 1, stride: 2 },
                ],
                head_channels: vec![12, 8],
            },
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown preset {s:?} (expected paper, tiny or test)"))
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One ResNet stage: `blocks` basic blocks, the first with `stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageConfig {
    pub channels: usize,
    pub blocks: usize,
    pub stride: usize,
}

/// The full architecture. Every shape in the system derives from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub preset: Preset,
    pub input_height: usize,
    pub input_width: usize,
    pub stem_channels: usize,
    pub stem_kernel: usize,
    /// ResNet's 3x3 stride-2 max pool after the stem.
    pub stem_max_pool: bool,
    pub stages: Vec<StageConfig>,
    /// Channels of each head's upsampling blocks, coarse to fine. A last 2x2 stride-2
    /// transposed convolution maps the finest to the task's output channels.
    pub head_channels: Vec<usize>,
}

impl ModelConfig {
    /// Total downsampling factor of the edge encoder.
    pub fn downsampling(&self) -> usize {
        let stem = if self.stem_max_pool { 4 } else { 2 };
        self.stages.iter().map(|s| s.stride).product::<usize>() * stem
    }

    /// Upsampling factor of each head (one 2x per block plus the output layer).
    pub fn upsampling(&self) -> usize {
        1 << (self.head_channels.len() + 1)
    }

    /// Bottleneck shape `[channels, height, width]`.
    pub fn bottleneck_shape(&self) -> [usize; 3] {
        let d = self.downsampling();
        let channels = self.stages.last().map_or(self.stem_channels, |s| s.channels);
        [channels, self.input_height / d, self.input_width / d]
    }

    /// Multiply-accumulates of the edge encoder for one image (convolutions only).
    pub fn edge_macs(&self) -> u64 {
        let (mut h, mut w) = (self.input_height / 2, self.input_width / 2);
        let k = self.stem_kernel as u64;
        let mut macs = (h * w) as u64 * 3 * self.stem_channels as u64 * k * k;
        if self.stem_max_pool {
            h /= 2;
            w /= 2;
        }
        let mut cin = self.stem_channels as u64;
        for stage in &self.stages {
            for i in 0..stage.blocks {
                if i == 0 {
                    h /= stage.stride;
                    w /= stage.stride;
                }
                let cout = stage.channels as u64;
                let px = (h * w) as u64;
                macs += px * cin * cout * 9 + px * cout * cout * 9;
                if cin != cout || (i == 0 && stage.stride != 1) {
                    macs += px * cin * cout;
                }
                cin = cout;
            }
        }
        macs
    }

    /// Multiply-accumulates of one head with `out_channels` outputs for one image.
    pub fn head_macs(&self, out_channels: usize) -> u64 {
        let [mut cin, mut h, mut w] = self.bottleneck_shape();
        let mut macs = 0u64;
        for &c in &self.head_channels {
            h *= 2;
            w *= 2;
            let px = (h * w) as u64;
            macs += px * (cin * c) as u64 + px * (c * c * 9) as u64;
            cin = c;
        }
        macs + (h * w * 4) as u64 * (cin * out_channels) as u64
    }

    /// Checks that the heads bring the bottleneck back to the input resolution.
    pub fn validate(&self) -> Result<(), String> {
        let d = self.downsampling();
        if !self.input_height.is_multiple_of(d) || !self.input_width.is_multiple_of(d) {
            return Err(format!(
                "input {}x{} is not divisible by the encoder's downsampling {d}",
                self.input_height, self.input_width
            ));
        }
        if self.upsampling() != d {
            return Err(format!(
                "heads upsample by {} but the encoder downsamples by {d}",
                self.upsampling()
            ));
        }
        if self.stages.iter().any(|s| s.blocks == 0 || s.channels == 0 || s.stride == 0) {
            return Err("every stage needs at least one block, one channel and stride >= 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_documented_bottlenecks() {
        assert_eq!(Preset::Paper.config().bottleneck_shape(), [512, 8, 16]);
        assert_eq!(Preset::Tiny.config().bottleneck_shape(), [64, 8, 16]);
        assert_eq!(Preset::Test.config().bottleneck_shape(), [16, 4, 8]);
        for p in Preset::ALL {
            p.config().validate().unwrap();
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
        }
    }

    #[test]
    fn macs_by_hand_for_the_test_preset() {
        let c = Preset::Test.config();
        // Stem 16x32 px * 3*8*9; block 1 at 8x16: 12*8*9 + 12*12*9 + 8*12;
        // block 2 at 4x8: 16*12*9 + 16*16*9 + 12*16.
        let edge = 512 * 216 + 128 * (864 + 1296 + 96) + 32 * (1728 + 2304 + 192);
        assert_eq!(c.edge_macs(), edge);
        // Up 1 at 8x16: 16*12 + 12*12*9; up 2 at 16x32: 12*8 + 8*8*9; output 32x64: 8*3.
        let head = 128 * (192 + 1296) + 512 * (96 + 576) + 2048 * 24;
        assert_eq!(c.head_macs(3), head);
    }

    #[test]
    fn mismatched_heads_are_rejected() {
        let mut c = Preset::Tiny.config();
        c.head_channels.pop();
        assert!(c.validate().unwrap_err().contains("upsample"));
        assert!("huge".parse::<Preset>().is_err());
    }
}
