//! Attribute paths: where in a configuration or state a diagnostic points.

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An attribute or nested block name.
    Attribute(String),
    /// A key of a map element.
    Key(String),
    /// An index of a list element.
    Index(i64),
}

/// A path from the root object to one attribute or element, as Terraform shows it
/// under a diagnostic (`metadata_options.http_tokens`, `tags["env"]`, `instance_ids[0]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributePath {
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    /// The path of a top-level attribute.
    pub fn root(name: &str) -> Self {
        Self {
            steps: vec![PathStep::Attribute(name.to_string())],
        }
    }

    /// The path of an attribute of the object this path points at.
    pub fn attr(&self, name: &str) -> Self {
        self.with(PathStep::Attribute(name.to_string()))
    }

    /// The path of a map element.
    pub fn key(&self, key: &str) -> Self {
        self.with(PathStep::Key(key.to_string()))
    }

    /// The path of a list element.
    pub fn index(&self, index: usize) -> Self {
        self.with(PathStep::Index(index as i64))
    }

    fn with(&self, step: PathStep) -> Self {
        let mut steps = self.steps.clone();
        steps.push(step);
        Self { steps }
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if i == 0 => write!(f, "{name}")?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{key:?}]")?,
                PathStep::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_hcl() {
        let path = AttributePath::root("kubernetes").attr("labels").key("app");
        assert_eq!(path.to_string(), "kubernetes.labels[\"app\"]");
        assert_eq!(AttributePath::root("ids").index(2).to_string(), "ids[2]");
    }
}
