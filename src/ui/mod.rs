//! The screen: the view model (pure data built from the state), the theme, and the render
//! functions that draw the view model. No I/O here.

pub mod render;
pub mod theme;
pub mod view;

pub use render::draw;
pub use theme::Theme;
pub use view::{ViewModel, build};
