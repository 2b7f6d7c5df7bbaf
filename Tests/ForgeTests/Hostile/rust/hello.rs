fn main() {
    println!("Hello, Talos!");
}
