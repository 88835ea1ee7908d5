/// Text files compiled into the server by the EmbedDocument build plugin (`Embedded/*.yaml`), so that a binary
/// copied on its own still has them.
enum Embedded {}
