//! The fixed names of the crate's small enums (verdicts, causes, phases, severities, TLS modes): one table per
//! enum maps each value to its `snake_case` name and back, and `Display`, `FromStr` and serde all use it, so a
//! name is the same in every output format.

/// A name that is not one of an enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}: expected one of {}", expected.join(", "))]
pub struct UnknownName {
    /// What was being read (`"verdict"`, `"cause"`, ...).
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The names accepted.
    pub expected: &'static [&'static str],
}

/// Implements `ALL`, `as_str`, `Display` (honouring width and alignment), `FromStr` (the names, and any aliases)
/// and, with the `serde` feature, `Serialize`/`Deserialize` as the name, for a field-less enum.
macro_rules! names {
    (
        $ty:ident, $what:literal,
        { $($variant:ident => $name:literal),* $(,)? }
        $(, aliases { $($alias:literal => $aliased:ident),* $(,)? })?
    ) => {
        impl $ty {
            /// Every value, in documentation order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The `snake_case` name, the same in every output format.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::vocabulary::UnknownName;

            fn from_str(name: &str) -> Result<$ty, Self::Err> {
                match name {
                    $($name => Ok($ty::$variant),)*
                    $($($alias => Ok($ty::$aliased),)*)?
                    _ => Err($crate::vocabulary::UnknownName {
                        what: $what,
                        name: name.to_owned(),
                        expected: &[$($name),*],
                    }),
                }
            }
        }

        #[cfg(feature = "serde")]
        #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        #[cfg(feature = "serde")]
        #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                $crate::schema::deserialize_from_str(deserializer)
            }
        }
    };
}

pub(crate) use names;
