//! Frame encoding (RFC 6455 §5.2, §5.3) into caller-owned buffers, without allocating per frame.
//!
//! Server frames are unmasked; client frames are masked with a key the caller draws from a strong
//! random source for every frame (§5.3, §10.3).

use crate::error::SendError;
use crate::header::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::opcode::OpCode;

/// Append one frame to `out`. Grows `out` only when its spare capacity is short.
///
/// The caller checks the control frame size: [`Connection`](crate::Connection) does.
pub fn write_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    write_frame_parts(out, fin, opcode, &[payload], mask);
}

/// Append one frame whose payload is the concatenation of `parts` (a close code and its reason).
pub fn write_frame_parts(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    parts: &[&[u8]],
    mask: Option<[u8; 4]>,
) {
    write_frame_rsv(out, (fin, false), opcode, parts, mask);
}

/// Append a whole compressed message as one frame: RSV1 set (RFC 7692 §6), `payload` already compressed.
pub fn write_compressed_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    write_frame_rsv(out, (true, true), opcode, &[payload], mask);
}

fn write_frame_rsv(
    out: &mut Vec<u8>,
    (fin, rsv1): (bool, bool),
    opcode: OpCode,
    parts: &[&[u8]],
    mask: Option<[u8; 4]>,
) {
    let payload_len: usize = parts.iter().map(|p| p.len()).sum();
    let header = FrameHeader {
        fin,
        rsv1,
        opcode,
        mask,
        payload_len: payload_len as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let head_len = header.encode(&mut head).unwrap_or(0);
    out.reserve(head_len + payload_len);
    out.extend_from_slice(&head[..head_len]);
    let start = out.len();
    for part in parts {
        out.extend_from_slice(part);
    }
    if let Some(key) = mask {
        wsmask::unmask(&mut out[start..], key, 0);
    }
}

/// Encode one frame into the start of `out`, returning the bytes written.
pub fn encode_frame(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Result<usize, SendError> {
    if opcode.is_control() && payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(SendError::ControlFrameTooLong(payload.len()));
    }
    let header = FrameHeader {
        fin,
        rsv1: false,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let needed = header.encoded_len() + payload.len();
    let out = out
        .get_mut(..needed)
        .ok_or(SendError::BufferTooSmall { needed })?;
    let head_len = header
        .encode(out)
        .ok_or(SendError::BufferTooSmall { needed })?;
    let body = &mut out[head_len..];
    match mask {
        Some(key) => wsmask::unmask_copy(payload, body, key, 0),
        None => body.copy_from_slice(payload),
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_frame_matches_rfc_example() {
        // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
        let mut out = Vec::new();
        write_frame(&mut out, true, OpCode::Text, b"Hello", None);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn client_text_frame_matches_rfc_example() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let mut out = Vec::new();
        write_frame(
            &mut out,
            true,
            OpCode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        let mut slice = [0u8; 11];
        let n = encode_frame(
            &mut slice,
            true,
            OpCode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(n, Ok(11));
        assert_eq!(&slice[..], &out[..]);
    }

    #[test]
    fn parts_are_concatenated_then_masked() {
        let mut a = Vec::new();
        write_frame_parts(
            &mut a,
            true,
            OpCode::Close,
            &[&1000u16.to_be_bytes(), b"bye"],
            Some([9, 8, 7, 6]),
        );
        let mut b = Vec::new();
        write_frame(
            &mut b,
            true,
            OpCode::Close,
            b"\x03\xe8bye",
            Some([9, 8, 7, 6]),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn slice_encoder_reports_needed_size_and_control_limit() {
        let mut small = [0u8; 4];
        assert_eq!(
            encode_frame(&mut small, true, OpCode::Binary, b"abcd", None),
            Err(SendError::BufferTooSmall { needed: 6 })
        );
        let mut big = [0u8; 200];
        assert_eq!(
            encode_frame(&mut big, true, OpCode::Ping, &[0u8; 126], None),
            Err(SendError::ControlFrameTooLong(126))
        );
    }

    #[test]
    fn appending_does_not_reallocate_with_spare_capacity() {
        let mut out = Vec::with_capacity(1024);
        let ptr = out.as_ptr();
        for _ in 0..10 {
            write_frame(&mut out, true, OpCode::Binary, &[7u8; 90], None);
        }
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(out.len(), 10 * 92);
    }
}
