//! The Tailscale tags a dev container advertises unless told otherwise.

/// The tag every dev container carries.
pub const CONTAINER_TAG: &str = "tag:devcontainer";

/// The tag of one user's containers: `tag:{user}-container`.
pub fn user_container_tag(user: &str) -> String {
    format!("tag:{user}-container")
}

/// The default tags of a user's containers: [`CONTAINER_TAG`] and [`user_container_tag`].
pub fn default_tags(user: &str) -> Vec<String> {
    vec![CONTAINER_TAG.to_string(), user_container_tag(user)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_tags_are_the_shared_and_the_users_tag() {
        assert_eq!(
            super::default_tags("alice"),
            vec!["tag:devcontainer", "tag:alice-container"]
        );
    }
}
