fn main() {
    println!("devbox-entrypoint: placeholder");
}
