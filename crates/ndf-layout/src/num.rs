//! Float-to-integer rounding without libm calls: x86-64 before SSE4.1 has no rounding
//! instruction, so `f32::round`/`floor` are function calls, and layout rounds every glyph.

/// Exactly `x.round() as i64` (half away from zero; saturating; NaN is 0).
#[inline]
pub(crate) fn round_i64(x: f32) -> i64 {
    // Truncation toward zero; below 2^23 the fraction `x - t` is exact, above it x is whole.
    let t = x as i64;
    let frac = x - t as f32;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// Exactly `x.round() as i32`.
#[inline]
pub(crate) fn round_i32(x: f32) -> i32 {
    round_i64(x).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Exactly `x.floor() as i64` (saturating; NaN is 0).
#[inline]
pub(crate) fn floor_i64(x: f32) -> i64 {
    let t = x as i64;
    if t as f32 > x { t.saturating_sub(1) } else { t }
}

#[cfg(test)]
mod tests {
    use super::{floor_i64, round_i32, round_i64};

    #[test]
    fn same_as_the_float_functions() {
        let mut values = vec![
            0.0f32,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            0.499_999_97,
            -0.499_999_97,
            8_388_607.5,
            -8_388_607.5,
            8_388_608.0,
            16_777_217.0,
            1.0e10,
            -1.0e10,
            9.223_372e18,
            -9.223_372e18,
            1.0e30,
            -1.0e30,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        // A sweep through the fractions, with neighbours of each half.
        for i in -4000..4000 {
            let v = i as f32 * 0.125;
            values.extend([
                v,
                f32::from_bits(v.to_bits() + 1),
                f32::from_bits(v.to_bits().saturating_sub(1)),
            ]);
        }
        for v in values {
            assert_eq!(round_i64(v), v.round() as i64, "round {v}");
            assert_eq!(round_i32(v), v.round() as i32, "round32 {v}");
            assert_eq!(floor_i64(v), v.floor() as i64, "floor {v}");
        }
    }
}
