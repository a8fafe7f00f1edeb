//! The 19 Cityscapes evaluation classes (trainIds 0..=18) with their standard
//! names and colours (cityscapesScripts `labels.py`), and the ignore label.

/// Label value for pixels that are excluded from training and evaluation.
pub const IGNORE_LABEL: u8 = 255;

/// Number of evaluation classes (trainIds 0..=18).
pub const NUM_CLASSES: usize = 19;

/// One evaluation class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ClassInfo {
    pub train_id: u8,
    pub name: &'static str,
    pub color: [u8; 3],
}

/// All 19 classes, indexed by trainId.
pub const CLASSES: [ClassInfo; NUM_CLASSES] = [
    ClassInfo {
        train_id: 0,
        name: "road",
        color: [128, 64, 128],
    },
    ClassInfo {
        train_id: 1,
        name: "sidewalk",
        color: [244, 35, 232],
    },
    ClassInfo {
        train_id: 2,
        name: "building",
        color: [70, 70, 70],
    },
    ClassInfo {
        train_id: 3,
        name: "wall",
        color: [102, 102, 156],
    },
    ClassInfo {
        train_id: 4,
        name: "fence",
        color: [190, 153, 153],
    },
    ClassInfo {
        train_id: 5,
        name: "pole",
        color: [153, 153, 153],
    },
    ClassInfo {
        train_id: 6,
        name: "traffic light",
        color: [250, 170, 30],
    },
    ClassInfo {
        train_id: 7,
        name: "traffic sign",
        color: [220, 220, 0],
    },
    ClassInfo {
        train_id: 8,
        name: "vegetation",
        color: [107, 142, 35],
    },
    ClassInfo {
        train_id: 9,
        name: "terrain",
        color: [152, 251, 152],
    },
    ClassInfo {
        train_id: 10,
        name: "sky",
        color: [70, 130, 180],
    },
    ClassInfo {
        train_id: 11,
        name: "person",
        color: [220, 20, 60],
    },
    ClassInfo {
        train_id: 12,
        name: "rider",
        color: [255, 0, 0],
    },
    ClassInfo {
        train_id: 13,
        name: "car",
        color: [0, 0, 142],
    },
    ClassInfo {
        train_id: 14,
        name: "truck",
        color: [0, 0, 70],
    },
    ClassInfo {
        train_id: 15,
        name: "bus",
        color: [0, 60, 100],
    },
    ClassInfo {
        train_id: 16,
        name: "train",
        color: [0, 80, 100],
    },
    ClassInfo {
        train_id: 17,
        name: "motorcycle",
        color: [0, 0, 230],
    },
    ClassInfo {
        train_id: 18,
        name: "bicycle",
        color: [119, 11, 32],
    },
];

/// Colour for a label; ignore (and any id outside 0..=18) is black.
pub fn label_color(label: u8) -> [u8; 3] {
    CLASSES.get(label as usize).map_or([0, 0, 0], |c| c.color)
}

/// Maps a Cityscapes `labelId` (0..=33, as stored in `*_gtFine_labelIds.png`) to its
/// trainId; labels not used for evaluation map to [`IGNORE_LABEL`].
pub fn label_id_to_train_id(label_id: u8) -> u8 {
    match label_id {
        7 => 0,
        8 => 1,
        11 => 2,
        12 => 3,
        13 => 4,
        17 => 5,
        19 => 6,
        20 => 7,
        21 => 8,
        22 => 9,
        23 => 10,
        24 => 11,
        25 => 12,
        26 => 13,
        27 => 14,
        28 => 15,
        31 => 16,
        32 => 17,
        33 => 18,
        _ => IGNORE_LABEL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_indexed_by_train_id() {
        for (i, c) in CLASSES.iter().enumerate() {
            assert_eq!(c.train_id as usize, i);
        }
    }

    #[test]
    fn label_ids_map_to_each_train_id_once() {
        let mut seen = [0usize; NUM_CLASSES];
        for id in 0..=255u8 {
            let t = label_id_to_train_id(id);
            if t != IGNORE_LABEL {
                seen[t as usize] += 1;
            }
        }
        assert_eq!(seen, [1; NUM_CLASSES]);
        assert_eq!(label_id_to_train_id(0), IGNORE_LABEL);
        assert_eq!(label_id_to_train_id(26), 13);
    }

    #[test]
    fn ignore_label_is_black() {
        assert_eq!(label_color(IGNORE_LABEL), [0, 0, 0]);
        assert_eq!(label_color(10), [70, 130, 180]);
    }
}
