pub const CONSTANT: i32 = 42;

pub fn greet(name: &str) -> String {
    format!("hello from helper, {}", name)
}
