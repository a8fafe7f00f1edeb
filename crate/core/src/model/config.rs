use serde::{Deserialize, Serialize};

use crate::quant::RangeRule;

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
                    StageConfig {
                        channels: 64,
                        blocks: 3,
                        stride: 1,
                    },
                    StageConfig {
                        channels: 128,
                        blocks: 4,
                        stride: 2,
                    },
                    StageConfig {
                        channels: 256,
                        blocks: 6,
                        stride: 2,
                    },
                    StageConfig {
                        channels: 512,
                        blocks: 3,
                        stride: 2,
                    },
                ],
                head_channels: vec![256, 128, 64, 32],
                quantizer: RangeRule::MinMax,
                learned_rate: false,
            },
            Preset::Tiny => ModelConfig {
                preset: self,
                input_height: 128,
                input_width: 256,
                stem_channels: 24,
                stem_kernel: 3,
                stem_max_pool: false,
                stages: vec![
                    StageConfig {
                        channels: 32,
                        blocks: 1,
                        stride: 2,
                    },
                    StageConfig {
                        channels: 48,
                        blocks: 1,
                        stride: 2,
                    },
                    StageConfig {
                        channels: 64,
                        blocks: 1,
                        stride: 2,
                    },
                ],
                head_channels: vec![48, 32, 24],
                quantizer: RangeRule::MinMax,
                learned_rate: false,
            },
            Preset::Test => ModelConfig {
                preset: self,
                input_height: 32,
                input_width: 64,
                stem_channels: 8,
                stem_kernel: 3,
                stem_max_pool: false,
                stages: vec![
                    StageConfig {
                        channels: 12,
                        blocks: 1,
                        stride: 2,
                    },
                    StageConfig {
                        channels: 16,
                        blocks: 1,
                        stride: 2,
                    },
                ],
                head_channels: vec![12, 8],
                quantizer: RangeRule::MinMax,
                learned_rate: false,
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
    /// How the edge's quantizer takes its range (min-max unless the model was trained
    /// for another rule). Absent in the JSON of min-max models.
    #[serde(default, skip_serializing_if = "RangeRule::is_min_max")]
    pub quantizer: RangeRule,
    /// Trained with the rate in bits under a learned prior of the features
    /// ([`crate::entropy_model`]) at this model's own quantizer, whatever its range rule.
    /// A step quantizer always is (its prior also codes); for a min-max or quantile
    /// range the prior only measures the rate in training. Absent in the JSON when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learned_rate: bool,
}

impl ModelConfig {
    /// True when both configs build the same network (the quantizer rule may differ):
    /// weights of one load into the other.
    pub fn same_network(&self, other: &ModelConfig) -> bool {
        ModelConfig {
            quantizer: other.quantizer,
            learned_rate: other.learned_rate,
            ..self.clone()
        } == *other
    }

    /// True when the trained model carries a learned prior of its features: a step
    /// quantizer, or [`ModelConfig::learned_rate`].
    pub fn has_prior(&self) -> bool {
        self.learned_rate || self.quantizer.step().is_some()
    }

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
        let channels = self
            .stages
            .last()
            .map_or(self.stem_channels, |s| s.channels);
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

    /// Checks [`ModelConfig::check_ranges`], then that the heads bring the bottleneck
    /// back to the input resolution.
    pub fn validate(&self) -> Result<(), String> {
        self.check_ranges().map_err(|e| e.to_string())?;
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
        self.quantizer.validate().map_err(|e| e.to_string())?;
        if self
            .stages
            .iter()
            .any(|s| s.blocks == 0 || s.channels == 0 || s.stride == 0)
        {
            return Err("every stage needs at least one block, one channel and stride >= 1".into());
        }
        Ok(())
    }
}

/// A configuration value outside its documented range: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The field's path, e.g. `stages[1].channels`.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error for a field nested under `parent` (`model.stem_channels`).
    pub fn within(self, parent: &str) -> Self {
        Self {
            field: format!("{parent}.{}", self.field),
            message: self.message,
        }
    }
}

/// Documented ranges of [`ModelConfig`] (docs/ARCHITECTURE.md, "Limits"). Wide enough
/// for every preset many times over, narrow enough that building or running a model
/// cannot need absurd memory.
pub mod limits {
    /// Input height and width, pixels.
    pub const INPUT_SIZE: std::ops::RangeInclusive<usize> = 1..=4096;
    /// Channels of the stem, of each stage and of each head block.
    pub const CHANNELS: std::ops::RangeInclusive<usize> = 1..=4096;
    /// Stem kernel size (odd).
    pub const STEM_KERNEL: std::ops::RangeInclusive<usize> = 1..=15;
    /// Number of stages, and of head blocks.
    pub const DEPTH: std::ops::RangeInclusive<usize> = 1..=8;
    /// Blocks per stage.
    pub const BLOCKS: std::ops::RangeInclusive<usize> = 1..=64;
    /// Stride of a stage.
    pub const STRIDE: std::ops::RangeInclusive<usize> = 1..=4;
    /// Largest activation of one image (channels x height x width), in elements.
    pub const MAX_ACTIVATION: u64 = 1 << 26;
    /// Parameters of the edge and of the three heads together.
    pub const MAX_PARAMETERS: u64 = 200_000_000;
}

impl ModelConfig {
    /// Checks every field against its documented range ([`limits`]), naming the first
    /// field out of range. Says nothing about whether the parts fit together
    /// ([`ModelConfig::validate`] does both).
    pub fn check_ranges(&self) -> Result<(), ConfigError> {
        use limits::*;
        fn within(
            field: &str,
            v: usize,
            range: &std::ops::RangeInclusive<usize>,
        ) -> Result<(), ConfigError> {
            if range.contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    field,
                    format!("{v} is outside {}..={}", range.start(), range.end()),
                ))
            }
        }
        within("input_height", self.input_height, &INPUT_SIZE)?;
        within("input_width", self.input_width, &INPUT_SIZE)?;
        within("stem_channels", self.stem_channels, &CHANNELS)?;
        within("stem_kernel", self.stem_kernel, &STEM_KERNEL)?;
        if self.stem_kernel.is_multiple_of(2) {
            return Err(ConfigError::new(
                "stem_kernel",
                format!("{} is even; the stem kernel must be odd", self.stem_kernel),
            ));
        }
        within("stages (count)", self.stages.len(), &DEPTH)?;
        for (i, s) in self.stages.iter().enumerate() {
            within(&format!("stages[{i}].channels"), s.channels, &CHANNELS)?;
            within(&format!("stages[{i}].blocks"), s.blocks, &BLOCKS)?;
            within(&format!("stages[{i}].stride"), s.stride, &STRIDE)?;
        }
        within("head_channels (count)", self.head_channels.len(), &DEPTH)?;
        for (i, &c) in self.head_channels.iter().enumerate() {
            within(&format!("head_channels[{i}]"), c, &CHANNELS)?;
        }
        // With every field in range these products fit in u64 easily.
        let d = self.downsampling();
        if self.input_height < d || self.input_width < d {
            return Err(ConfigError::new(
                "input_height",
                format!(
                    "input {}x{} is smaller than the encoder's downsampling {d}",
                    self.input_height, self.input_width
                ),
            ));
        }
        let (activation, field) = self.largest_activation();
        if activation > MAX_ACTIVATION {
            return Err(ConfigError::new(
                field,
                format!(
                    "the largest activation has {activation} elements per image, over {MAX_ACTIVATION}"
                ),
            ));
        }
        let params = self.approx_parameters();
        if params > MAX_PARAMETERS {
            return Err(ConfigError::new(
                "stages",
                format!("about {params} parameters, over {MAX_PARAMETERS}"),
            ));
        }
        Ok(())
    }

    /// The largest activation of one image, in elements: the stem's output, each
    /// stage's, each head block's, and the heads' full-resolution outputs; with the
    /// field that sets it.
    fn largest_activation(&self) -> (u64, String) {
        let (mut h, mut w) = (
            (self.input_height / 2) as u64,
            (self.input_width / 2) as u64,
        );
        let mut most = (
            h * w * self.stem_channels as u64,
            "stem_channels".to_string(),
        );
        let mut see = |n: u64, field: String| {
            if n > most.0 {
                most = (n, field);
            }
        };
        if self.stem_max_pool {
            h /= 2;
            w /= 2;
        }
        for (i, s) in self.stages.iter().enumerate() {
            h /= s.stride as u64;
            w /= s.stride as u64;
            see(h * w * s.channels as u64, format!("stages[{i}].channels"));
        }
        for (i, &c) in self.head_channels.iter().enumerate() {
            h *= 2;
            w *= 2;
            see(h * w * c as u64, format!("head_channels[{i}]"));
        }
        // Segmentation output: 19 classes at full resolution.
        see(
            self.input_height as u64 * self.input_width as u64 * 19,
            "input_height".into(),
        );
        most
    }

    /// Weights of the convolutions of the edge and of three heads (biases and
    /// normalisation ignored): a bound on memory, not an exact count.
    fn approx_parameters(&self) -> u64 {
        let k = self.stem_kernel as u64;
        let mut params = 3 * self.stem_channels as u64 * k * k;
        let mut cin = self.stem_channels as u64;
        for s in &self.stages {
            let cout = s.channels as u64;
            params += s.blocks as u64 * 18 * cout.max(cin) * cout.max(cin) + cin * cout;
            cin = cout;
        }
        let mut head = 0;
        for &c in &self.head_channels {
            let c = c as u64;
            head += cin * c + 9 * c * c;
            cin = c;
        }
        params + 3 * (head + 4 * cin * 19)
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
    fn every_field_out_of_range_is_named() {
        let base = Preset::Tiny.config();
        type Breaks = Box<dyn Fn(&mut ModelConfig)>;
        let cases: Vec<(&str, Breaks)> = vec![
            (
                "input_height",
                Box::new(|c: &mut ModelConfig| c.input_height = 0),
            ),
            (
                "input_width",
                Box::new(|c: &mut ModelConfig| c.input_width = 1 << 20),
            ),
            (
                "stem_channels",
                Box::new(|c: &mut ModelConfig| c.stem_channels = 0),
            ),
            (
                "stem_channels",
                Box::new(|c: &mut ModelConfig| c.stem_channels = 1 << 40),
            ),
            (
                "stem_kernel",
                Box::new(|c: &mut ModelConfig| c.stem_kernel = 4),
            ),
            (
                "stages (count)",
                Box::new(|c: &mut ModelConfig| c.stages.clear()),
            ),
            (
                "stages[1].channels",
                Box::new(|c: &mut ModelConfig| c.stages[1].channels = 5000),
            ),
            (
                "stages[0].blocks",
                Box::new(|c: &mut ModelConfig| c.stages[0].blocks = 0),
            ),
            (
                "stages[2].stride",
                Box::new(|c: &mut ModelConfig| c.stages[2].stride = 0),
            ),
            (
                "head_channels[0]",
                Box::new(|c: &mut ModelConfig| c.head_channels[0] = 0),
            ),
            (
                "head_channels (count)",
                Box::new(|c: &mut ModelConfig| c.head_channels = vec![8; 9]),
            ),
            (
                "input_height",
                Box::new(|c: &mut ModelConfig| c.input_height = 4),
            ),
            (
                "stem_channels",
                Box::new(|c: &mut ModelConfig| {
                    c.input_height = 4096;
                    c.input_width = 4096;
                    c.stem_channels = 4096;
                }),
            ),
            (
                "stages",
                Box::new(|c: &mut ModelConfig| {
                    c.stages.iter_mut().for_each(|s| {
                        s.channels = 4096;
                        s.blocks = 64;
                    })
                }),
            ),
        ];
        for (field, change) in cases {
            let mut c = base.clone();
            change(&mut c);
            let err = c.check_ranges().unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(c.validate().unwrap_err().starts_with(field), "{field}");
        }
        for p in Preset::ALL {
            p.config().check_ranges().unwrap();
        }
        assert_eq!(
            ConfigError::new("batch", "0").within("run").field,
            "run.batch"
        );
    }

    #[test]
    fn mismatched_heads_are_rejected() {
        let mut c = Preset::Tiny.config();
        c.head_channels.pop();
        assert!(c.validate().unwrap_err().contains("upsample"));
        assert!("huge".parse::<Preset>().is_err());
    }
}
