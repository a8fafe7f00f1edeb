//! The pinhole stereo camera of the synthetic scenes.
//!
//! World frame: `x` across the street (metres, right positive), `y` up from the
//! ground plane, `z` along the street (forward). The camera sits at height
//! `height_m` above the ground, at street position (`pos_x`, `pos_z`), looking
//! along `z` turned by a small yaw. Image rows grow downward.

/// Focal length in pixels per pixel of image width: Cityscapes' 2262.52 px at 2048 px.
pub const FOCAL_PER_WIDTH: f32 = 2262.52 / 2048.0;

/// Stereo baseline in metres (Cityscapes: 0.209313 m). Disparity is
/// `focal * BASELINE_M / depth`, in pixels of the rendered width.
pub const BASELINE_M: f32 = 0.209_313;

/// Nearest depth drawn; closer geometry is behind the lens for practical purposes.
pub(crate) const NEAR_M: f32 = 0.8;

#[derive(Debug, Clone)]
pub(crate) struct Camera {
    pub width: u32,
    pub height: u32,
    /// Focal length in pixels.
    pub focal: f32,
    /// Principal point column.
    pub cx: f32,
    /// Horizon row (the ground plane's vanishing line).
    pub horizon: f32,
    /// Camera height above the ground, metres.
    pub height_m: f32,
    pub sin_yaw: f32,
    pub cos_yaw: f32,
    pub pos_x: f32,
    pub pos_z: f32,
}

impl Camera {
    /// `horizon_frac` is the horizon row as a fraction of the height, so one scene
    /// looks the same at every resolution.
    pub fn new(
        width: u32,
        height: u32,
        horizon_frac: f32,
        height_m: f32,
        sin_yaw: f32,
        pos_x: f32,
        pos_z: f32,
    ) -> Self {
        Camera {
            width,
            height,
            focal: FOCAL_PER_WIDTH * width as f32,
            cx: 0.5 * width as f32,
            horizon: horizon_frac * height as f32,
            height_m,
            sin_yaw,
            cos_yaw: (1.0 - sin_yaw * sin_yaw).sqrt(),
            pos_x,
            pos_z,
        }
    }

    /// Disparity in pixels of a point at camera depth `zc`.
    #[inline]
    pub fn disparity(&self, zc: f32) -> f32 {
        self.focal * BASELINE_M / zc
    }

    /// Disparity of the ground plane at image row coordinate `row` (a pixel centre
    /// is `r + 0.5`): `d = k * (row - horizon)` with `k = baseline / camera height`.
    #[inline]
    pub fn ground_disparity(&self, row: f32) -> f32 {
        BASELINE_M / self.height_m * (row - self.horizon)
    }

    /// Camera depth of the ground at image row coordinate `row` (below the horizon).
    #[inline]
    pub fn ground_depth(&self, row: f32) -> f32 {
        self.focal * self.height_m / (row - self.horizon)
    }

    /// World point (x, z) on the street to camera coordinates (xc, zc).
    #[inline]
    pub fn to_camera(&self, x: f32, z: f32) -> (f32, f32) {
        let dx = x - self.pos_x;
        let dz = z - self.pos_z;
        (
            dx * self.cos_yaw - dz * self.sin_yaw,
            dx * self.sin_yaw + dz * self.cos_yaw,
        )
    }

    /// Camera coordinates (xc, zc) back to the street frame (x, z).
    #[inline]
    pub fn to_world(&self, xc: f32, zc: f32) -> (f32, f32) {
        (
            self.pos_x + xc * self.cos_yaw + zc * self.sin_yaw,
            self.pos_z - xc * self.sin_yaw + zc * self.cos_yaw,
        )
    }

    /// Image column coordinate of a camera-frame point.
    #[inline]
    pub fn column(&self, xc: f32, zc: f32) -> f32 {
        self.cx + self.focal * xc / zc
    }

    /// Image row coordinate of a point at height `y` above the ground and depth `zc`.
    #[inline]
    pub fn row(&self, y: f32, zc: f32) -> f32 {
        self.horizon - self.focal * (y - self.height_m) / zc
    }

    /// Height above the ground of image row coordinate `row` at depth `zc`.
    #[inline]
    pub fn height_at(&self, row: f32, zc: f32) -> f32 {
        self.height_m - (row - self.horizon) * zc / self.focal
    }

    /// Depth at which the ray through column coordinate `col` meets the street-aligned
    /// vertical plane `x = x_plane`; `None` when the ray runs away from it.
    #[inline]
    pub fn depth_on_x_plane(&self, col: f32, x_plane: f32) -> Option<f32> {
        let t = (col - self.cx) / self.focal;
        let denom = t * self.cos_yaw + self.sin_yaw;
        let zc = (x_plane - self.pos_x) / denom;
        (denom != 0.0 && zc > NEAR_M).then_some(zc)
    }

    /// Depth at which the ray through column coordinate `col` meets the cross-street
    /// vertical plane `z = z_plane`.
    #[inline]
    pub fn depth_on_z_plane(&self, col: f32, z_plane: f32) -> Option<f32> {
        let t = (col - self.cx) / self.focal;
        let denom = self.cos_yaw - t * self.sin_yaw;
        let zc = (z_plane - self.pos_z) / denom;
        (denom > 0.0 && zc > NEAR_M).then_some(zc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ground_disparity_matches_depth() {
        let cam = Camera::new(256, 128, 0.45, 1.3, 0.02, 0.5, 3.0);
        for r in 70..128 {
            let row = r as f32 + 0.5;
            let z = cam.ground_depth(row);
            let d = cam.disparity(z);
            assert!((d - cam.ground_disparity(row)).abs() < 1e-3 * d.max(1.0));
        }
    }

    #[test]
    fn world_camera_round_trip() {
        let cam = Camera::new(256, 128, 0.45, 1.3, -0.04, 1.5, 10.0);
        let (xc, zc) = cam.to_camera(-3.0, 30.0);
        let (x, z) = cam.to_world(xc, zc);
        assert!((x + 3.0).abs() < 1e-4 && (z - 30.0).abs() < 1e-4);
        let col = cam.column(xc, zc);
        let zp = cam.depth_on_x_plane(col, -3.0).unwrap();
        assert!((zp - zc).abs() < 1e-3);
        let zq = cam.depth_on_z_plane(col, 30.0).unwrap();
        assert!((zq - zc).abs() < 1e-3);
    }
}
