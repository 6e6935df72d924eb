//! The UA as a server: its answers to the requests the server relays to it.

use super::Ua;
use crate::sip::build;
use crate::sip::message::{Message, param};

impl Ua {
    pub(super) fn on_request(&mut self, msg: &Message<'_>, method: &str) {
        let reply = match method {
            "ACK" => None,
            "MESSAGE" | "OPTIONS" | "BYE" | "CANCEL" => {
                Some(build::response(msg, 200, "OK", "", ""))
            }
            "INVITE" if msg.body.is_empty() => Some(build::response(
                msg,
                488,
                "Not Acceptable Here",
                "Warning: 399 sipload \"an offer is expected in the INVITE\"\r\n",
                "",
            )),
            "INVITE" => {
                let contact = format!("Contact: {}\r\n", self.id.contact());
                let tag_given = msg.header("to").and_then(|t| param(t, "tag")).is_some();
                if !tag_given {
                    let ringing = build::response(msg, 180, "Ringing", &contact, "");
                    self.send(ringing);
                }
                let sdp: &str = if tag_given {
                    &build::HOLD_ANSWER
                } else {
                    build::ANSWER
                };
                Some(build::response(msg, 200, "OK", &contact, sdp))
            }
            _ => Some(build::response(
                msg,
                405,
                "Method Not Allowed",
                "Allow: INVITE,ACK,CANCEL,BYE,MESSAGE,OPTIONS\r\n",
                "",
            )),
        };
        if let Some(r) = reply {
            self.send(r);
        }
    }
}
