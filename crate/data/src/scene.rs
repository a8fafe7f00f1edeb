//! The world of a synthetic scene: a straight street generated from a seed.
//!
//! Street-wide parameters (lanes, sidewalks, camera, lighting) come from the seed
//! alone; everything placed along the street (buildings, trees, cars, people, ...)
//! comes from independent 64 m chunks of street, each from its own derived seed, so
//! that a camera driving forward sees an endless, consistent street.

use crate::rng::{Rng, derive};

pub(crate) type Rgb = [f32; 3];

/// Length of street generated from one chunk seed, metres.
pub(crate) const CHUNK_M: f32 = 64.0;
/// Farthest depth at which anything is drawn, metres.
pub(crate) const FAR_M: f32 = 420.0;

// Cityscapes trainIds used by the renderer.
pub(crate) const ROAD: u8 = 0;
pub(crate) const SIDEWALK: u8 = 1;
pub(crate) const BUILDING: u8 = 2;
pub(crate) const WALL: u8 = 3;
pub(crate) const FENCE: u8 = 4;
pub(crate) const POLE: u8 = 5;
pub(crate) const TRAFFIC_LIGHT: u8 = 6;
pub(crate) const TRAFFIC_SIGN: u8 = 7;
pub(crate) const VEGETATION: u8 = 8;
pub(crate) const TERRAIN: u8 = 9;
pub(crate) const SKY: u8 = 10;
pub(crate) const PERSON: u8 = 11;
pub(crate) const RIDER: u8 = 12;
pub(crate) const CAR: u8 = 13;
pub(crate) const TRUCK: u8 = 14;
pub(crate) const BUS: u8 = 15;
pub(crate) const BICYCLE: u8 = 18;

pub(crate) fn scale(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

pub(crate) fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn jitter(rng: &mut Rng, c: Rgb, amount: f32) -> Rgb {
    let k = 1.0 + rng.range(-amount, amount);
    [
        (c[0] * k + rng.range(-0.03, 0.03)).clamp(0.0, 1.0),
        (c[1] * k + rng.range(-0.03, 0.03)).clamp(0.0, 1.0),
        (c[2] * k + rng.range(-0.03, 0.03)).clamp(0.0, 1.0),
    ]
}

fn pick_color(rng: &mut Rng, palette: &[Rgb], amount: f32) -> Rgb {
    let c = rng.pick(palette);
    jitter(rng, c, amount)
}

fn grey(v: f32) -> Rgb {
    [v, v, v]
}

const WALL_COLORS: [Rgb; 14] = [
    [0.78, 0.77, 0.74],
    [0.62, 0.62, 0.62],
    [0.45, 0.45, 0.46],
    [0.32, 0.32, 0.33],
    [0.76, 0.68, 0.55],
    [0.86, 0.80, 0.67],
    [0.55, 0.31, 0.23],
    [0.66, 0.42, 0.32],
    [0.84, 0.74, 0.50],
    [0.55, 0.60, 0.64],
    [0.88, 0.87, 0.84],
    [0.46, 0.37, 0.29],
    [0.70, 0.55, 0.50],
    [0.60, 0.63, 0.55],
];

const CAR_COLORS: [Rgb; 13] = [
    [0.88, 0.88, 0.88],
    [0.92, 0.92, 0.90],
    [0.68, 0.69, 0.70],
    [0.50, 0.51, 0.52],
    [0.35, 0.35, 0.36],
    [0.08, 0.08, 0.09],
    [0.06, 0.07, 0.07],
    [0.10, 0.14, 0.32],
    [0.58, 0.07, 0.06],
    [0.16, 0.30, 0.58],
    [0.14, 0.28, 0.18],
    [0.68, 0.61, 0.50],
    [0.80, 0.66, 0.12],
];

const CLOTH_COLORS: [Rgb; 12] = [
    [0.08, 0.08, 0.09],
    [0.15, 0.17, 0.25],
    [0.30, 0.32, 0.36],
    [0.55, 0.55, 0.56],
    [0.85, 0.85, 0.83],
    [0.55, 0.10, 0.10],
    [0.15, 0.30, 0.55],
    [0.50, 0.42, 0.30],
    [0.25, 0.35, 0.20],
    [0.75, 0.60, 0.20],
    [0.45, 0.20, 0.40],
    [0.20, 0.25, 0.40],
];

const SKIN_COLORS: [Rgb; 5] = [
    [0.87, 0.70, 0.58],
    [0.78, 0.58, 0.45],
    [0.62, 0.44, 0.32],
    [0.42, 0.29, 0.21],
    [0.30, 0.20, 0.15],
];

const LEAF_COLORS: [Rgb; 6] = [
    [0.20, 0.32, 0.10],
    [0.26, 0.38, 0.14],
    [0.16, 0.26, 0.10],
    [0.32, 0.42, 0.18],
    [0.36, 0.36, 0.14],
    [0.52, 0.40, 0.14],
];

/// Lighting of a scene: time of day, sky and sun.
#[derive(Debug, Clone)]
pub(crate) struct Light {
    pub sky_top: Rgb,
    pub sky_horizon: Rgb,
    pub cloud: Rgb,
    /// 0 (clear) .. 1 (covered).
    pub cloudiness: f32,
    pub ambient: Rgb,
    pub sun: Rgb,
    /// -1: the sun shines from the left (x < 0) side of the street, +1: right.
    pub sun_side: f32,
    /// Horizontal shadow length per metre of building height (0 = no shadows).
    pub shadow_per_m: f32,
    /// Depth at which haze reaches half strength, metres.
    pub haze_m: f32,
    pub exposure: f32,
    /// Probability that a window is lit (dusk).
    pub lit_windows: f32,
    /// Standard deviation of the sensor noise, in [0, 1] intensity units.
    pub noise: f32,
}

impl Light {
    fn random(rng: &mut Rng) -> Self {
        let kind = rng.below(100);
        let sun_side = rng.sign();
        let (mut l, shadow) = if kind < 30 {
            // Clear midday.
            (
                Light {
                    sky_top: [0.24, 0.44, 0.78],
                    sky_horizon: [0.66, 0.78, 0.92],
                    cloud: [0.95, 0.95, 0.97],
                    cloudiness: rng.range(0.0, 0.5),
                    ambient: [0.50, 0.53, 0.60],
                    sun: [0.62, 0.60, 0.55],
                    sun_side,
                    shadow_per_m: 0.0,
                    haze_m: rng.range(300.0, 700.0),
                    exposure: 1.0,
                    lit_windows: 0.0,
                    noise: 0.0,
                },
                rng.range(0.2, 0.6),
            )
        } else if kind < 50 {
            // Morning or late afternoon: warm, low sun, long shadows.
            (
                Light {
                    sky_top: [0.32, 0.48, 0.74],
                    sky_horizon: [0.88, 0.82, 0.72],
                    cloud: [0.98, 0.90, 0.82],
                    cloudiness: rng.range(0.0, 0.6),
                    ambient: [0.45, 0.46, 0.52],
                    sun: [0.68, 0.56, 0.40],
                    sun_side,
                    shadow_per_m: 0.0,
                    haze_m: rng.range(200.0, 500.0),
                    exposure: 1.0,
                    lit_windows: 0.0,
                    noise: 0.0,
                },
                rng.range(0.8, 1.8),
            )
        } else if kind < 80 {
            // Overcast: flat light, grey sky, no shadows.
            let g = rng.range(0.62, 0.86);
            (
                Light {
                    sky_top: [g * 0.86, g * 0.88, g * 0.92],
                    sky_horizon: [g, g, g * 1.02],
                    cloud: [g * 0.92, g * 0.92, g * 0.94],
                    cloudiness: rng.range(0.3, 1.0),
                    ambient: [0.86, 0.87, 0.90],
                    sun: [0.12, 0.12, 0.12],
                    sun_side,
                    shadow_per_m: 0.0,
                    haze_m: rng.range(150.0, 400.0),
                    exposure: 1.0,
                    lit_windows: 0.0,
                    noise: 0.0,
                },
                0.0,
            )
        } else if kind < 92 {
            // Hazy afternoon.
            (
                Light {
                    sky_top: [0.45, 0.58, 0.76],
                    sky_horizon: [0.80, 0.83, 0.86],
                    cloud: [0.92, 0.92, 0.92],
                    cloudiness: rng.range(0.2, 0.8),
                    ambient: [0.62, 0.63, 0.66],
                    sun: [0.45, 0.43, 0.38],
                    sun_side,
                    shadow_per_m: 0.0,
                    haze_m: rng.range(90.0, 200.0),
                    exposure: 1.0,
                    lit_windows: 0.0,
                    noise: 0.0,
                },
                rng.range(0.3, 1.0),
            )
        } else {
            // Dusk: dim, orange horizon, some windows lit.
            (
                Light {
                    sky_top: [0.20, 0.24, 0.42],
                    sky_horizon: [0.92, 0.58, 0.38],
                    cloud: [0.55, 0.38, 0.38],
                    cloudiness: rng.range(0.0, 0.6),
                    ambient: [0.40, 0.37, 0.42],
                    sun: [0.25, 0.15, 0.08],
                    sun_side,
                    shadow_per_m: 0.0,
                    haze_m: rng.range(200.0, 500.0),
                    exposure: 1.0,
                    lit_windows: rng.range(0.1, 0.4),
                    noise: 0.0,
                },
                0.0,
            )
        };
        l.shadow_per_m = if rng.chance(0.85) { shadow } else { 0.0 };
        l.exposure = rng.range(0.82, 1.18);
        l.noise = rng.range(0.006, 0.03);
        l
    }

    /// Light falling on a surface: `facing` is how directly it faces the sun, 0..1.
    pub fn on(&self, facing: f32) -> Rgb {
        [
            self.ambient[0] + self.sun[0] * facing,
            self.ambient[1] + self.sun[1] * facing,
            self.ambient[2] + self.sun[2] * facing,
        ]
    }
}

/// One side of the street, measured outward from the road edge.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    /// -1 for the left side, +1 for the right.
    pub sign: f32,
    /// Road edge x (the curb line).
    pub edge: f32,
    pub curb: f32,
    /// Grass strip between curb and sidewalk (0: none).
    pub verge: f32,
    pub sidewalk: f32,
    /// Distance from the road edge to the building line.
    pub building_line: f32,
    pub curb_color: Rgb,
    pub sidewalk_color: Rgb,
    pub tile_m: f32,
    pub terrain_color: Rgb,
    /// 0 = downtown (continuous facades) .. 2 = green (parks, trees, fences).
    pub style: u32,
    pub tree_spacing: Option<f32>,
    pub lamp_spacing: Option<f32>,
    /// Usual most pedestrians per chunk (a group of three may add to it).
    pub people: u32,
}

impl Side {
    /// X of a point `d` metres outward from the road edge.
    pub fn x_at(&self, d: f32) -> f32 {
        self.edge + self.sign * d
    }
}

/// A lane divider painted on the road.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneLine {
    pub x: f32,
    pub solid: bool,
    pub double: bool,
    pub color: Rgb,
}

#[derive(Debug, Clone)]
pub(crate) struct Street {
    /// Road x range (curb to curb).
    pub road: [f32; 2],
    pub lines: Vec<LaneLine>,
    pub dash_m: f32,
    pub gap_m: f32,
    pub asphalt: Rgb,
    pub mark_wear: f32,
    /// Centres and travel direction (+1: away from the camera) of the lanes.
    pub lanes: Vec<(f32, f32)>,
    /// Parking lane centres (x, facing +1/-1), if any.
    pub parking: Vec<(f32, f32)>,
    pub lane_w: f32,
    pub sides: [Side; 2],
}

/// How a vertical surface's appearance is computed.
#[derive(Debug, Clone)]
pub(crate) enum Surface {
    Facade(Facade),
    Wall { color: Rgb, cap: Rgb, seed: u32 },
    Fence { kind: u32, color: Rgb, seed: u32 },
    Hedge { color: Rgb, seed: u32 },
    VehicleSide(Vehicle),
}

#[derive(Debug, Clone)]
pub(crate) struct Facade {
    pub wall: Rgb,
    pub trim: Rgb,
    pub glass: Rgb,
    pub floor_m: f32,
    pub bay_m: f32,
    /// Window width and height as fractions of bay and floor.
    pub win_w: f32,
    pub win_h: f32,
    pub shops: Option<Rgb>,
    pub stripes: bool,
    pub height: f32,
    pub seed: u32,
}

/// A vertical rectangle aligned with the street (`along_x == false`: the plane
/// `x = at`, spanning z in `lo..hi`) or across it (`along_x == true`: the plane
/// `z = at`, spanning x in `lo..hi`).
#[derive(Debug, Clone)]
pub(crate) struct Panel {
    pub along_x: bool,
    pub at: f32,
    pub lo: f32,
    pub hi: f32,
    /// Top edge above the ground, metres.
    pub top: f32,
    /// Texture coordinate origin along the panel and its direction.
    pub u0: f32,
    pub u_dir: f32,
    /// How directly the panel faces the sun, 0..1.
    pub sun: f32,
    pub surface: Surface,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VehicleKind {
    Car,
    Truck,
    Bus,
}

#[derive(Debug, Clone)]
pub(crate) struct Vehicle {
    pub kind: VehicleKind,
    pub x: f32,
    /// Z of the face nearest the camera.
    pub z: f32,
    pub width: f32,
    pub height: f32,
    pub length: f32,
    pub body: Rgb,
    pub cargo: Rgb,
    /// Seen from behind (driving away) or from the front (oncoming).
    pub rear: bool,
    pub seed: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum SignShape {
    Round,
    Triangle,
    Square,
    Wide,
    Diamond,
    Back,
}

#[derive(Debug, Clone)]
pub(crate) enum PropKind {
    Person {
        height: f32,
        skin: Rgb,
        hair: Rgb,
        top: Rgb,
        legs: Rgb,
        coat: bool,
        stride: f32,
        back: bool,
    },
    Rider {
        skin: Rgb,
        top: Rgb,
        legs: Rgb,
        bike: Rgb,
        helmet: Option<Rgb>,
    },
    Bicycle {
        color: Rgb,
        dir: f32,
    },
    Pole {
        height: f32,
        width: f32,
        color: Rgb,
        /// Lamp arm length toward `arm_dir` (0: none).
        arm: f32,
        arm_dir: f32,
        sign: Option<(SignShape, f32, Rgb, Rgb)>,
        light: Option<(f32, Rgb, u32)>,
        /// Traffic light hanging at the end of the arm.
        hanging_light: Option<(Rgb, u32)>,
    },
    Tree {
        trunk_h: f32,
        trunk_w: f32,
        rx: f32,
        ry: f32,
        leaf: Rgb,
        bark: Rgb,
        seed: u32,
    },
    VehicleFace(Vehicle),
}

/// Something standing on the ground at (x, z), drawn facing the camera.
#[derive(Debug, Clone)]
pub(crate) struct Prop {
    pub x: f32,
    pub z: f32,
    pub kind: PropKind,
}

/// Everything placed in one chunk of street.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub panels: Vec<Panel>,
    pub props: Vec<Prop>,
    pub vehicles: Vec<Vehicle>,
    /// Crosswalk z ranges.
    pub crosswalks: Vec<(f32, f32)>,
    /// Ground shadows cast by buildings on the sun side: (z0, z1, x of the shadow
    /// edge); the ground between that edge and the buildings is in shadow.
    pub shadows: Vec<(f32, f32, f32)>,
    /// Stretches where the ground beyond a sidewalk is paved: (side, z0, z1).
    pub paved: Vec<(usize, f32, f32)>,
}

/// A whole street and how it is seen: the part of a scene fixed by its seed.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub seed: u64,
    pub horizon_frac: f32,
    pub cam_height: f32,
    pub sin_yaw: f32,
    pub cam_x: f32,
    pub street: Street,
    pub light: Light,
    /// A vehicle ahead in the camera's lane, at a distance relative to the camera.
    pub lead: Option<Vehicle>,
    /// A building closing the far end of the street, at a distance from the camera.
    pub end_facade: Option<Panel>,
    pub cloud_seed: u32,
    pub road_seed: u32,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(derive(seed, 1));
        let light = Light::random(&mut rng);

        let lane_w = rng.range(2.9, 3.6);
        let n_lanes = 1 + rng.below(3) + u32::from(rng.chance(0.5));
        let two_way = n_lanes >= 2 && rng.chance(0.7);
        let n_oncoming = if two_way { n_lanes / 2 } else { 0 };
        let park = [rng.chance(0.45), rng.chance(0.45)];
        let park_w = 2.3;
        let total = n_lanes as f32 * lane_w
            + park
                .map(|p| if p { park_w } else { 0.0 })
                .iter()
                .sum::<f32>();
        let road = [-0.5 * total, 0.5 * total];
        let first_lane = road[0] + if park[0] { park_w } else { 0.0 };

        let mut lanes = Vec::new();
        for i in 0..n_lanes {
            let dir = if i < n_oncoming { -1.0 } else { 1.0 };
            lanes.push((first_lane + (i as f32 + 0.5) * lane_w, dir));
        }
        let mut parking = Vec::new();
        if park[0] {
            parking.push((road[0] + 0.5 * park_w, if two_way { -1.0 } else { 1.0 }));
        }
        if park[1] {
            parking.push((road[1] - 0.5 * park_w, 1.0));
        }

        let white: Rgb = [0.86, 0.86, 0.84];
        let yellow: Rgb = [0.85, 0.70, 0.20];
        let mut lines = Vec::new();
        for i in 1..n_lanes {
            let x = first_lane + i as f32 * lane_w;
            if two_way && i == n_oncoming {
                let color = if rng.chance(0.3) { yellow } else { white };
                lines.push(LaneLine {
                    x,
                    solid: rng.chance(0.6),
                    double: rng.chance(0.4),
                    color,
                });
            } else {
                lines.push(LaneLine {
                    x,
                    solid: false,
                    double: false,
                    color: white,
                });
            }
        }
        if rng.chance(0.6) {
            for (s, &p) in park.iter().enumerate() {
                let x = if s == 0 {
                    first_lane
                } else {
                    first_lane + n_lanes as f32 * lane_w
                };
                let inset = if p {
                    0.0
                } else {
                    -0.3 * if s == 0 { -1.0 } else { 1.0 }
                };
                lines.push(LaneLine {
                    x: x + inset,
                    solid: true,
                    double: false,
                    color: white,
                });
            }
        }

        let ego = n_oncoming + rng.below(n_lanes - n_oncoming);
        let cam_x = lanes[ego as usize].0 + rng.range(-0.3, 0.3);

        let tone = rng.range(0.22, 0.5);
        let asphalt = jitter(&mut rng, [tone, tone * 1.01, tone * 1.03], 0.05);
        let city = rng.below(3);
        let sides = [
            Self::side(&mut rng, -1.0, road[0], city),
            Self::side(&mut rng, 1.0, road[1], city),
        ];

        let street = Street {
            road,
            lines,
            dash_m: rng.range(2.0, 4.0),
            gap_m: rng.range(3.0, 8.0),
            asphalt,
            mark_wear: rng.range(0.0, 0.6),
            lanes,
            parking,
            lane_w,
            sides,
        };

        let lead = if rng.chance(0.5) {
            let z = rng.range(7.0, 40.0);
            let mut v = Self::vehicle(&mut rng, cam_x, z, true);
            v.x = cam_x + rng.range(-0.4, 0.4);
            Some(v)
        } else {
            None
        };
        let end_facade = if rng.chance(0.35) {
            let height = rng.range(15.0, 40.0);
            let f = Self::facade(&mut rng, height, 0);
            let z = rng.range(180.0, 360.0);
            Some(Panel {
                along_x: true,
                at: z,
                lo: road[0] - 60.0,
                hi: road[1] + 60.0,
                top: f.height,
                u0: road[0] - 60.0,
                u_dir: 1.0,
                sun: 0.4,
                surface: Surface::Facade(f),
            })
        } else {
            None
        };

        World {
            seed,
            horizon_frac: rng.range(0.36, 0.48),
            cam_height: rng.range(1.15, 1.5),
            sin_yaw: rng.range(-0.03, 0.03),
            cam_x,
            street,
            light,
            lead,
            end_facade,
            cloud_seed: rng.next_u32(),
            road_seed: rng.next_u32(),
        }
    }

    fn side(rng: &mut Rng, sign: f32, edge: f32, city: u32) -> Side {
        let style = if rng.chance(0.7) { city } else { rng.below(3) };
        let curb = rng.range(0.15, 0.3);
        let verge = if rng.chance(if style == 0 { 0.15 } else { 0.45 }) {
            rng.range(0.6, 2.5)
        } else {
            0.0
        };
        let sidewalk = rng.range(1.6, if style == 0 { 5.5 } else { 3.5 });
        let setback = match style {
            0 => rng.range(0.0, 0.8),
            1 => rng.range(0.0, 5.0),
            _ => rng.range(1.0, 8.0),
        };
        let sidewalk_color = match rng.below(5) {
            0 => [0.60, 0.60, 0.60],
            1 => [0.45, 0.45, 0.46],
            2 => [0.66, 0.60, 0.52],
            3 => [0.56, 0.40, 0.35],
            _ => [0.72, 0.71, 0.68],
        };
        let terrain_color = match rng.below(4) {
            0 => [0.30, 0.42, 0.17],
            1 => [0.40, 0.46, 0.22],
            2 => [0.52, 0.48, 0.30],
            _ => [0.46, 0.38, 0.28],
        };
        let c = rng.range(0.55, 0.78);
        Side {
            sign,
            edge,
            curb,
            verge,
            sidewalk,
            building_line: curb + verge + sidewalk + setback,
            curb_color: [c, c, c * 0.98],
            sidewalk_color: jitter(rng, sidewalk_color, 0.1),
            tile_m: rng.range(0.3, 1.0),
            terrain_color: jitter(rng, terrain_color, 0.12),
            style,
            tree_spacing: rng
                .chance([0.35, 0.6, 0.85][style as usize])
                .then(|| rng.range(7.0, 15.0)),
            lamp_spacing: rng.chance(0.75).then(|| rng.range(18.0, 35.0)),
            people: [6, 3, 2][style as usize],
        }
    }

    fn facade(rng: &mut Rng, height: f32, style: u32) -> Facade {
        let wall = pick_color(rng, &WALL_COLORS, 0.12);
        let trim = if rng.chance(0.5) {
            scale(wall, rng.range(0.6, 0.85))
        } else {
            jitter(rng, [0.85, 0.84, 0.80], 0.1)
        };
        let g = rng.range(0.08, 0.3);
        Facade {
            wall,
            trim,
            glass: [g * 0.85, g * 0.95, g * 1.1],
            floor_m: rng.range(2.8, 3.8),
            bay_m: rng.range(2.2, 4.5),
            win_w: rng.range(0.3, 0.75),
            win_h: rng.range(0.35, 0.65),
            shops: (style == 0 && rng.chance(0.6)).then(|| pick_color(rng, &CLOTH_COLORS, 0.2)),
            stripes: rng.chance(0.25),
            height,
            seed: rng.next_u32(),
        }
    }

    pub(crate) fn vehicle(rng: &mut Rng, x: f32, z: f32, rear: bool) -> Vehicle {
        let r = rng.below(100);
        let body = pick_color(rng, &CAR_COLORS, 0.08);
        let seed = rng.next_u32();
        if r < 4 {
            Vehicle {
                kind: VehicleKind::Truck,
                x,
                z,
                width: rng.range(2.3, 2.55),
                height: rng.range(2.8, 3.8),
                length: rng.range(6.0, 10.0),
                body,
                cargo: pick_color(
                    rng,
                    &[
                        [0.85, 0.85, 0.85],
                        [0.6, 0.62, 0.64],
                        [0.7, 0.2, 0.15],
                        [0.2, 0.3, 0.5],
                    ],
                    0.1,
                ),
                rear,
                seed,
            }
        } else if r < 6 {
            Vehicle {
                kind: VehicleKind::Bus,
                x,
                z,
                width: 2.55,
                height: rng.range(3.0, 3.3),
                length: rng.range(11.0, 13.0),
                body: pick_color(
                    rng,
                    &[
                        [0.85, 0.85, 0.82],
                        [0.75, 0.15, 0.12],
                        [0.85, 0.7, 0.15],
                        [0.2, 0.4, 0.6],
                    ],
                    0.08,
                ),
                cargo: body,
                rear,
                seed,
            }
        } else {
            let van = rng.chance(0.12);
            Vehicle {
                kind: VehicleKind::Car,
                x,
                z,
                width: rng.range(1.7, 1.95),
                height: if van {
                    rng.range(1.8, 2.1)
                } else {
                    rng.range(1.35, 1.6)
                },
                length: if van {
                    rng.range(4.8, 5.4)
                } else {
                    rng.range(3.8, 4.9)
                },
                body,
                cargo: body,
                rear,
                seed,
            }
        }
    }

    fn person(rng: &mut Rng) -> PropKind {
        let coat = rng.chance(0.3);
        PropKind::Person {
            height: rng.range(1.55, 1.95),
            skin: pick_color(rng, &SKIN_COLORS, 0.08),
            hair: pick_color(
                rng,
                &[
                    [0.08, 0.06, 0.05],
                    [0.25, 0.17, 0.1],
                    [0.55, 0.45, 0.3],
                    [0.6, 0.6, 0.6],
                ],
                0.1,
            ),
            top: pick_color(rng, &CLOTH_COLORS, 0.15),
            legs: pick_color(
                rng,
                &[
                    [0.1, 0.1, 0.12],
                    [0.15, 0.2, 0.35],
                    [0.35, 0.33, 0.3],
                    [0.55, 0.5, 0.4],
                    [0.2, 0.2, 0.2],
                ],
                0.1,
            ),
            coat,
            stride: rng.range(0.0, 0.25),
            back: rng.chance(0.5),
        }
    }

    /// A tree whose crown reaches at most `max_rx` metres sideways, so that it does
    /// not cut into a facade behind it.
    fn tree(rng: &mut Rng, scale_m: f32, max_rx: f32) -> PropKind {
        let ry = rng.range(1.4, 3.2) * scale_m;
        PropKind::Tree {
            trunk_h: rng.range(1.6, 3.2) * scale_m,
            trunk_w: rng.range(0.14, 0.3) * scale_m.max(0.7),
            rx: (ry * rng.range(0.7, 1.2)).min(max_rx),
            ry,
            leaf: pick_color(rng, &LEAF_COLORS, 0.15),
            bark: jitter(rng, [0.28, 0.24, 0.2], 0.2),
            seed: rng.next_u32(),
        }
    }

    /// Generates chunk `index`: street from `index * CHUNK_M` to the next chunk.
    pub fn chunk(&self, index: i64) -> Chunk {
        let mut rng = Rng::new(derive(self.seed, 0x1_0000u64.wrapping_add(index as u64)));
        let z0 = index as f32 * CHUNK_M;
        let z1 = z0 + CHUNK_M;
        let mut ch = Chunk::default();
        let st = &self.street;

        let crosswalk = rng.chance(0.3).then(|| {
            let z = rng.range(z0 + 4.0, z1 - 10.0);
            (z, z + rng.range(3.0, 5.0))
        });
        if let Some(cw) = crosswalk {
            ch.crosswalks.push(cw);
        }

        for (si, side) in st.sides.iter().enumerate() {
            self.lots(&mut rng, &mut ch, si, side, z0, z1);
            self.sidewalk_props(&mut rng, &mut ch, side, z0, z1, crosswalk);
        }
        self.traffic(&mut rng, &mut ch, z0, z1, crosswalk);
        ch
    }

    /// Buildings, walls, fences, hedges and yards behind one sidewalk.
    fn lots(&self, rng: &mut Rng, ch: &mut Chunk, si: usize, side: &Side, z0: f32, z1: f32) {
        let s = side.sign;
        let line = side.x_at(side.building_line);
        let lit = if s == -self.light.sun_side {
            0.85
        } else {
            0.12
        };
        let mut z = z0;
        while z < z1 {
            let r = rng.f32();
            let (p_building, p_wall, p_fence) = match side.style {
                0 => (0.82, 0.06, 0.04),
                1 => (0.5, 0.15, 0.15),
                _ => (0.2, 0.15, 0.3),
            };
            if r < p_building {
                let len = rng.range(8.0, 35.0).min(z1 - z);
                let height = match side.style {
                    0 => rng.range(9.0, 30.0),
                    1 => rng.range(5.0, 14.0),
                    _ => rng.range(4.0, 9.0),
                };
                let setback = if side.style == 0 && rng.chance(0.8) {
                    0.0
                } else {
                    rng.range(0.0, 4.0)
                };
                let x = line + s * setback;
                let f = Self::facade(rng, height, side.style);
                let depth = rng.range(8.0, 20.0);
                ch.panels.push(Panel {
                    along_x: false,
                    at: x,
                    lo: z,
                    hi: z + len,
                    top: height,
                    u0: z,
                    u_dir: 1.0,
                    sun: lit,
                    surface: Surface::Facade(f.clone()),
                });
                ch.panels.push(Panel {
                    along_x: true,
                    at: z,
                    lo: x.min(x + s * depth),
                    hi: x.max(x + s * depth),
                    top: height,
                    u0: x,
                    u_dir: s,
                    sun: 0.35,
                    surface: Surface::Facade(f),
                });
                if self.light.shadow_per_m > 0.0 && s == self.light.sun_side {
                    ch.shadows
                        .push((z, z + len, x - s * height * self.light.shadow_per_m));
                }
                if setback > 1.0 && rng.chance(0.5) {
                    self.hedge(rng, ch, line + s * 0.3, z, z + len, lit);
                }
                if setback < 0.5 && side.style == 0 {
                    ch.paved.push((si, z, z + len));
                }
                z += len;
                if rng.chance(if side.style == 0 { 0.15 } else { 0.45 }) {
                    z += self.yard(rng, ch, si, side, z, z1);
                }
            } else if r < p_building + p_wall + p_fence {
                let len = rng.range(10.0, 30.0).min(z1 - z);
                let wall = r < p_building + p_wall;
                let h = if wall {
                    rng.range(1.0, 2.8)
                } else {
                    rng.range(1.0, 2.0)
                };
                let surface = if wall {
                    let c = pick_color(rng, &WALL_COLORS, 0.1);
                    Surface::Wall {
                        color: c,
                        cap: scale(c, rng.range(0.7, 1.15)),
                        seed: rng.next_u32(),
                    }
                } else {
                    let kind = rng.below(3);
                    let color = match kind {
                        0 => jitter(rng, [0.2, 0.22, 0.2], 0.3),
                        1 => jitter(rng, [0.5, 0.38, 0.25], 0.2),
                        _ => jitter(rng, [0.55, 0.57, 0.58], 0.15),
                    };
                    Surface::Fence {
                        kind,
                        color,
                        seed: rng.next_u32(),
                    }
                };
                ch.panels.push(Panel {
                    along_x: false,
                    at: line,
                    lo: z,
                    hi: z + len,
                    top: h,
                    u0: z,
                    u_dir: 1.0,
                    sun: lit,
                    surface,
                });
                self.yard_content(rng, ch, side, z, z + len, lit);
                z += len;
            } else {
                z += self.yard(rng, ch, si, side, z, z1);
            }
        }
    }

    /// An open lot: grass or paving with trees, hedges or a building farther back.
    /// Returns its length.
    fn yard(&self, rng: &mut Rng, ch: &mut Chunk, si: usize, side: &Side, z: f32, z1: f32) -> f32 {
        let len = rng.range(4.0, 25.0).min(z1 - z).max(0.5);
        let lit = if side.sign == -self.light.sun_side {
            0.85
        } else {
            0.12
        };
        if rng.chance(0.3) {
            ch.paved.push((si, z, z + len));
        }
        if rng.chance(0.35) {
            let line = side.x_at(side.building_line);
            self.hedge(rng, ch, line, z, z + len, lit);
        }
        self.yard_content(rng, ch, side, z, z + len, lit);
        len
    }

    fn yard_content(&self, rng: &mut Rng, ch: &mut Chunk, side: &Side, z0: f32, z1: f32, lit: f32) {
        let s = side.sign;
        let line = side.x_at(side.building_line);
        if rng.chance(0.6) {
            let back = rng.range(6.0, 25.0);
            let height = rng.range(6.0, 30.0);
            let f = Self::facade(rng, height, 1);
            ch.panels.push(Panel {
                along_x: false,
                at: line + s * back,
                lo: z0 - rng.range(0.0, 10.0),
                hi: z1 + rng.range(0.0, 10.0),
                top: height,
                u0: z0,
                u_dir: 1.0,
                sun: lit,
                surface: Surface::Facade(f),
            });
        }
        let n = rng.below(4);
        for _ in 0..n {
            let x = line + s * rng.range(1.5, 12.0);
            let z = rng.range(z0, z1);
            let size = rng.range(0.9, 1.5);
            let k = Self::tree(rng, size, 4.0);
            ch.props.push(Prop { x, z, kind: k });
        }
    }

    fn hedge(&self, rng: &mut Rng, ch: &mut Chunk, x: f32, z0: f32, z1: f32, lit: f32) {
        ch.panels.push(Panel {
            along_x: false,
            at: x,
            lo: z0,
            hi: z1,
            top: rng.range(0.7, 1.8),
            u0: z0,
            u_dir: 1.0,
            sun: lit,
            surface: Surface::Hedge {
                color: pick_color(rng, &LEAF_COLORS, 0.12),
                seed: rng.next_u32(),
            },
        });
    }

    /// Trees, lamps, signs, poles, people and parked bicycles on one sidewalk.
    fn sidewalk_props(
        &self,
        rng: &mut Rng,
        ch: &mut Chunk,
        side: &Side,
        z0: f32,
        z1: f32,
        crosswalk: Option<(f32, f32)>,
    ) {
        let s = side.sign;
        let pole_grey = |rng: &mut Rng| {
            let g = grey(rng.range(0.25, 0.6));
            jitter(rng, g, 0.1)
        };
        if let Some(spacing) = side.tree_spacing {
            let d = if side.verge > 0.0 {
                side.curb + 0.5 * side.verge
            } else {
                side.curb + 0.7
            };
            let max_rx = (side.building_line - d - 0.2).max(1.0);
            let mut z = z0 + rng.range(0.0, spacing);
            while z < z1 {
                let size = rng.range(0.9, 1.5);
                let k = Self::tree(rng, size, max_rx);
                ch.props.push(Prop {
                    x: side.x_at(d + rng.range(-0.2, 0.2)),
                    z,
                    kind: k,
                });
                z += spacing * rng.range(0.8, 1.2);
            }
        }
        if let Some(spacing) = side.lamp_spacing {
            let mut z = z0 + rng.range(0.0, spacing);
            while z < z1 {
                let color = pole_grey(rng);
                ch.props.push(Prop {
                    x: side.x_at(side.curb + 0.4),
                    z,
                    kind: PropKind::Pole {
                        height: rng.range(6.0, 9.0),
                        width: rng.range(0.14, 0.22),
                        color,
                        arm: rng.range(0.8, 2.2),
                        arm_dir: -s,
                        sign: None,
                        light: None,
                        hanging_light: None,
                    },
                });
                z += spacing;
            }
        }
        for _ in 0..rng.below(4) {
            let shape = rng.pick(&[
                SignShape::Round,
                SignShape::Round,
                SignShape::Triangle,
                SignShape::Square,
                SignShape::Wide,
                SignShape::Diamond,
                SignShape::Back,
            ]);
            let (face, mark) = match shape {
                SignShape::Round => rng.pick(&[
                    ([0.75, 0.1, 0.1], [0.92, 0.92, 0.92]),
                    ([0.1, 0.25, 0.65], [0.92, 0.92, 0.92]),
                ]),
                SignShape::Triangle => ([0.8, 0.1, 0.1], [0.92, 0.92, 0.9]),
                SignShape::Square => ([0.1, 0.25, 0.65], [0.92, 0.92, 0.92]),
                SignShape::Wide => rng.pick(&[
                    ([0.1, 0.4, 0.2], [0.92, 0.92, 0.92]),
                    ([0.92, 0.92, 0.9], [0.1, 0.1, 0.1]),
                    ([0.1, 0.25, 0.65], [0.92, 0.92, 0.92]),
                ]),
                SignShape::Diamond => ([0.9, 0.75, 0.1], [0.92, 0.92, 0.92]),
                SignShape::Back => ([0.55, 0.56, 0.57], [0.5, 0.5, 0.5]),
            };
            let plate = rng.range(2.0, 2.8);
            let color = pole_grey(rng);
            ch.props.push(Prop {
                x: side.x_at(side.curb + rng.range(0.25, 0.6)),
                z: rng.range(z0, z1),
                kind: PropKind::Pole {
                    height: plate + 0.35,
                    width: rng.range(0.06, 0.1),
                    color,
                    arm: 0.0,
                    arm_dir: 0.0,
                    sign: Some((shape, plate, face, mark)),
                    light: None,
                    hanging_light: None,
                },
            });
        }
        for _ in 0..rng.below(3) {
            let color = pole_grey(rng);
            let tall = rng.chance(0.5);
            ch.props.push(Prop {
                x: side.x_at(if tall {
                    side.curb + 0.3
                } else {
                    side.curb + rng.range(0.2, side.sidewalk)
                }),
                z: rng.range(z0, z1),
                kind: PropKind::Pole {
                    height: if tall {
                        rng.range(3.0, 8.0)
                    } else {
                        rng.range(0.8, 1.2)
                    },
                    width: if tall {
                        rng.range(0.1, 0.25)
                    } else {
                        rng.range(0.12, 0.2)
                    },
                    color,
                    arm: 0.0,
                    arm_dir: 0.0,
                    sign: None,
                    light: None,
                    hanging_light: None,
                },
            });
        }
        let light_housing = |rng: &mut Rng| {
            rng.pick(&[
                [0.08, 0.08, 0.08],
                [0.15, 0.15, 0.14],
                [0.75, 0.6, 0.1],
                [0.25, 0.3, 0.25],
            ])
        };
        if let Some((cz0, _)) = crosswalk {
            let color = pole_grey(rng);
            let housing = light_housing(rng);
            let over = rng.chance(0.4);
            ch.props.push(Prop {
                x: side.x_at(side.curb + 0.35),
                z: cz0 - 0.5,
                kind: PropKind::Pole {
                    height: if over {
                        rng.range(5.5, 6.5)
                    } else {
                        rng.range(3.0, 3.6)
                    },
                    width: rng.range(0.1, 0.16),
                    color,
                    arm: if over { rng.range(3.0, 6.0) } else { 0.0 },
                    arm_dir: -s,
                    sign: None,
                    light: Some((rng.range(2.2, 2.5), housing, rng.below(3))),
                    hanging_light: over.then(|| (housing, rng.below(3))),
                },
            });
        } else if rng.chance(0.12) {
            let color = pole_grey(rng);
            let housing = light_housing(rng);
            ch.props.push(Prop {
                x: side.x_at(side.curb + 0.35),
                z: rng.range(z0, z1),
                kind: PropKind::Pole {
                    height: rng.range(3.0, 3.6),
                    width: 0.12,
                    color,
                    arm: 0.0,
                    arm_dir: 0.0,
                    sign: None,
                    light: Some((rng.range(2.2, 2.5), housing, rng.below(3))),
                    hanging_light: None,
                },
            });
        }
        // People and bicycles are flat figures facing the camera; they keep clear of
        // the building line by more than their half width so no facade cuts them.
        let walk = (side.curb + side.verge + 0.3, side.building_line - 0.45);
        let people = rng.below(side.people + 1) + u32::from(rng.chance(0.3)) * 3;
        for _ in 0..people {
            let d = rng.range(walk.0, walk.1.max(walk.0 + 0.1));
            ch.props.push(Prop {
                x: side.x_at(d),
                z: rng.range(z0, z1),
                kind: Self::person(rng),
            });
        }
        let bike_d = side.building_line - 1.0;
        if rng.chance(0.3) && bike_d > side.curb + side.verge + 0.4 {
            for _ in 0..1 + rng.below(3) {
                let color = pick_color(rng, &CLOTH_COLORS, 0.2);
                ch.props.push(Prop {
                    x: side.x_at(bike_d),
                    z: rng.range(z0, z1),
                    kind: PropKind::Bicycle {
                        color,
                        dir: rng.sign(),
                    },
                });
            }
        }
    }

    /// Vehicles in the lanes and parking lanes, riders, people on crosswalks.
    fn traffic(
        &self,
        rng: &mut Rng,
        ch: &mut Chunk,
        z0: f32,
        z1: f32,
        crosswalk: Option<(f32, f32)>,
    ) {
        let st = &self.street;
        let half = 0.5 * st.lane_w;
        let clear_of_ego = |x: f32, w: f32| (x - self.cam_x).abs() > half + 0.5 * w + 0.2;
        let blocked =
            |z: f32, len: f32| crosswalk.is_some_and(|(a, b)| z < b + 1.0 && z + len > a - 1.0);
        for &(x, dir) in &st.lanes {
            if !clear_of_ego(x, 1.8) {
                continue;
            }
            // Traffic density varies from lane to lane and chunk to chunk.
            let spacing = rng.range(8.0, 70.0);
            let mut z = z0 + rng.range(0.0, spacing);
            while z < z1 {
                let vx = x + rng.range(-0.35, 0.35);
                let v = Self::vehicle(rng, vx, z, dir > 0.0);
                let len = v.length;
                if !blocked(z, len) {
                    ch.vehicles.push(v);
                }
                z += len + rng.range(3.0, spacing);
            }
        }
        for &(x, dir) in &st.parking {
            let mut z = z0 + rng.range(0.0, 8.0);
            while z < z1 {
                let vx = x + rng.range(-0.2, 0.2);
                let mut v = Self::vehicle(rng, vx, z, dir > 0.0);
                if v.kind == VehicleKind::Bus {
                    v.kind = VehicleKind::Car;
                    v.height = 1.5;
                    v.length = 4.5;
                    v.width = 1.8;
                }
                let len = v.length;
                if rng.chance(0.8) && !blocked(z, len) {
                    ch.vehicles.push(v);
                }
                z += len + rng.range(0.8, 6.0);
            }
        }
        if rng.chance(0.35) {
            let x = st.road[1] - 0.8;
            if clear_of_ego(x, 0.8) {
                let k = PropKind::Rider {
                    skin: pick_color(rng, &SKIN_COLORS, 0.08),
                    top: pick_color(rng, &CLOTH_COLORS, 0.15),
                    legs: pick_color(rng, &CLOTH_COLORS, 0.1),
                    bike: pick_color(rng, &CLOTH_COLORS, 0.2),
                    helmet: rng.chance(0.5).then(|| pick_color(rng, &CLOTH_COLORS, 0.2)),
                };
                ch.props.push(Prop {
                    x,
                    z: rng.range(z0, z1),
                    kind: k,
                });
            }
        }
        if let Some((a, b)) = crosswalk {
            for _ in 0..rng.below(5) {
                let x = rng.range(st.road[0] + 0.3, st.road[1] - 0.3);
                if clear_of_ego(x, 0.6) {
                    ch.props.push(Prop {
                        x,
                        z: rng.range(a + 0.3, b - 0.3),
                        kind: Self::person(rng),
                    });
                }
            }
        }
    }
}
