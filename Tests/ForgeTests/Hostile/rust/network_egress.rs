// Every way out of the box must fail (std only: TCP, UDP, getaddrinfo).
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

fn main() {
    let mut results: Vec<(&str, Result<String, String>)> = Vec::new();
    for (name, addr) in [("tcp4_connect_1.1.1.1:80", "1.1.1.1:80"), ("tcp6_connect", "[2606:4700:4700::1111]:80")] {
        let a: SocketAddr = addr.parse().unwrap();
        results.push((name, TcpStream::connect_timeout(&a, Duration::from_secs(3)).map(|_| "connected".to_string()).map_err(|e| e.to_string())));
    }
    let udp = UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(&[0u8; 32], "8.8.8.8:53"));
    results.push(("udp4_send_8.8.8.8:53", udp.map(|n| format!("sent {}", n)).map_err(|e| e.to_string())));
    let dns = "example.com:80".to_socket_addrs();
    results.push(("dns_example.com", dns.map(|a| format!("{:?}", a.collect::<Vec<_>>())).map_err(|e| e.to_string())));
    let mut all = true;
    for (name, r) in &results {
        match r {
            Ok(s) => {
                all = false;
                println!("{}: OPEN ({})", name, s)
            }
            Err(e) => println!("{}: blocked ({})", name, e),
        }
    }
    println!("{}", if all { "BLOCKED" } else { "ESCAPED" });
}
