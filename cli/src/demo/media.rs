//! Generated media for the demo store: uncompressed 24-bit BMP pictures
//! (a gradient sky, a sun and hills) and 16-bit PCM WAV voice notes,
//! written a row or a block at a time, so a full-HD picture never sits in
//! memory whole. Deterministic: integer arithmetic only, from the demo's
//! random generator. No codec, no dependency.

use std::io::{self, Write};

use chatvault_corpus::Rng;

/// The length of a BMP of `width` × `height`: headers and padded rows.
pub fn bmp_len(width: u32, height: u32) -> u64 {
    54 + u64::from(row_len(width)) * u64::from(height)
}

/// Bytes of one pixel row: 3 per pixel, padded to a multiple of 4.
fn row_len(width: u32) -> u32 {
    (width * 3).div_ceil(4) * 4
}

/// An RGB colour.
type Rgb = [u32; 3];

fn colour(rng: &mut Rng, lo: u64, hi: u64) -> Rgb {
    [0; 3].map(|_: u32| (lo + rng.below(hi - lo + 1)) as u32)
}

/// `a` to `b` as `t` goes from 0 to `scale`.
fn mix(a: Rgb, b: Rgb, t: u32, scale: u32) -> Rgb {
    [0, 1, 2].map(|i| (a[i] * (scale - t) + b[i] * t) / scale)
}

/// Writes a `width` × `height` picture as a BMP file (bottom-up rows, BGR),
/// its colours and shapes drawn from `rng`; returns the bytes written.
pub fn write_bmp(out: &mut impl Write, width: u32, height: u32, rng: &mut Rng) -> io::Result<u64> {
    let (w, h) = (width.max(1), height.max(1));
    let row = row_len(w);
    let image = row * h;
    let mut header = Vec::with_capacity(54);
    header.extend_from_slice(b"BM");
    header.extend_from_slice(&(54 + image).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&54u32.to_le_bytes());
    header.extend_from_slice(&40u32.to_le_bytes());
    header.extend_from_slice(&(w as i32).to_le_bytes());
    header.extend_from_slice(&(h as i32).to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes());
    header.extend_from_slice(&24u16.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&image.to_le_bytes());
    header.extend_from_slice(&2835u32.to_le_bytes());
    header.extend_from_slice(&2835u32.to_le_bytes());
    header.extend_from_slice(&[0; 8]);
    out.write_all(&header)?;

    let sky_top = colour(rng, 20, 120);
    let sky_low = colour(rng, 150, 255);
    let (hill_near, hill_far) = (colour(rng, 10, 90), colour(rng, 60, 160));
    let sun = [255, 200 + rng.below(56) as u32, 60 + rng.below(120) as u32];
    let (sun_x, sun_y) =
        (w / 5 + rng.below(u64::from(w) * 3 / 5 + 1) as u32, h / 6 + rng.below(u64::from(h) / 4 + 1) as u32);
    let radius = (h / 10).max(2);
    let horizon = h * 3 / 5 + rng.below(u64::from(h) / 10 + 1) as u32;
    let (wave, phase) = (2 + rng.below(4) as u32, rng.below(u64::from(w)) as u32);

    let mut line = vec![0u8; row as usize];
    // Rows bottom-up: y counts from the top of the picture.
    for y in (0..h).rev() {
        for x in 0..w {
            // A hill line rising and falling `wave` times across the picture.
            let t = ((x + phase) * wave * 512 / w) % 512;
            let tri = if t < 256 { t } else { 511 - t };
            let ridge = horizon - (tri * (h / 8).max(1) / 256).min(horizon);
            let (dx, dy) = (x.abs_diff(sun_x), y.abs_diff(sun_y));
            let px = if y >= ridge {
                mix(hill_far, hill_near, (y - ridge).min(h - ridge), (h - ridge).max(1))
            } else if dx * dx + dy * dy <= radius * radius {
                sun
            } else {
                mix(sky_top, sky_low, y.min(horizon), horizon.max(1))
            };
            let at = x as usize * 3;
            line[at] = px[2].min(255) as u8;
            line[at + 1] = px[1].min(255) as u8;
            line[at + 2] = px[0].min(255) as u8;
        }
        out.write_all(&line)?;
    }
    Ok(bmp_len(w, h))
}

/// Sample rate of the voice notes: telephone quality.
const RATE: u32 = 8_000;

/// The length of a WAV voice note of `ms` milliseconds.
pub fn wav_len(ms: u32) -> u64 {
    44 + 2 * u64::from(RATE * ms / 1000)
}

/// Writes a voice note of `ms` milliseconds as a 16-bit mono PCM WAV:
/// syllables of a buzzing voice whose pitch drifts, from `rng`; returns
/// the bytes written.
pub fn write_wav(out: &mut impl Write, ms: u32, rng: &mut Rng) -> io::Result<u64> {
    let samples = RATE * ms / 1000;
    let data = samples * 2;
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&1u16.to_le_bytes()); // mono
    header.extend_from_slice(&RATE.to_le_bytes());
    header.extend_from_slice(&(RATE * 2).to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&16u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data.to_le_bytes());
    out.write_all(&header)?;

    // A syllable every 150 to 300 ms, each at its own pitch (100 to 260 Hz).
    let mut block = Vec::with_capacity(2 * RATE as usize / 10);
    let (mut phase, mut overtone) = (0u32, 0u32);
    let (mut syllable_left, mut syllable_len, mut pitch) = (0u32, 1u32, 150u32);
    let tri = |p: u32| -> i32 { if p < 32_768 { p as i32 - 16_384 } else { 49_151 - p as i32 } };
    for i in 0..samples {
        if syllable_left == 0 {
            syllable_len = RATE * (150 + rng.below(151) as u32) / 1000;
            syllable_left = syllable_len;
            pitch = 100 + rng.below(161) as u32;
        }
        syllable_left -= 1;
        // Phases in 1/65536 of a cycle.
        phase = phase.wrapping_add(pitch * 65_536 / RATE) & 0xffff;
        overtone = overtone.wrapping_add(pitch * 3 * 65_536 / RATE) & 0xffff;
        let wave = tri(phase) + tri(overtone) / 3;
        // Rises and falls within the syllable, with a pause at its end.
        let into = syllable_len - syllable_left;
        let envelope =
            if into * 5 > syllable_len * 4 { 0 } else { (into.min(syllable_left) * 4).min(syllable_len) };
        let sample = (i64::from(wave) * i64::from(envelope) / i64::from(syllable_len.max(1)) * 3 / 4) as i16;
        block.extend_from_slice(&sample.to_le_bytes());
        if block.len() >= block.capacity() || i + 1 == samples {
            out.write_all(&block)?;
            block.clear();
        }
    }
    Ok(wav_len(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_valid_bmp_files_of_the_stated_length() {
        for (w, h) in [(1, 1), (3, 2), (64, 64), (97, 31)] {
            let mut out = Vec::new();
            let n = write_bmp(&mut out, w, h, &mut Rng::new(7)).expect("write");
            assert_eq!(n, out.len() as u64);
            assert_eq!(n, bmp_len(w, h));
            assert_eq!(&out[..2], b"BM");
            assert_eq!(u32::from_le_bytes(out[2..6].try_into().unwrap()) as usize, out.len());
            assert_eq!(i32::from_le_bytes(out[18..22].try_into().unwrap()), w as i32);
            assert_eq!(i32::from_le_bytes(out[22..26].try_into().unwrap()), h as i32);
            assert_eq!(u16::from_le_bytes(out[28..30].try_into().unwrap()), 24);
        }
        assert_eq!(bmp_len(1920, 1080), 6_220_854);
        let draw = |seed| {
            let mut out = Vec::new();
            write_bmp(&mut out, 64, 48, &mut Rng::new(seed)).expect("write");
            out
        };
        assert_eq!(draw(1), draw(1), "deterministic");
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn voice_notes_are_valid_wav_files_of_the_stated_length() {
        let mut out = Vec::new();
        let n = write_wav(&mut out, 1500, &mut Rng::new(3)).expect("write");
        assert_eq!(n, out.len() as u64);
        assert_eq!(n, wav_len(1500));
        assert_eq!(&out[..4], b"RIFF");
        assert_eq!(&out[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(out[40..44].try_into().unwrap()) as u64, n - 44);
        assert!(out[44..].iter().any(|&b| b != 0), "not silence");
        let mut again = Vec::new();
        write_wav(&mut again, 1500, &mut Rng::new(3)).expect("write");
        assert_eq!(out, again, "deterministic");
    }
}
