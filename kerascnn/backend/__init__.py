"""What depends on the Keras backend, in one place: the backend chosen when nobody chose one,
before Keras is imported (`choice`), what the backend computes on (`devices`: accelerators, the
native 16-bit float, the device in words), gradients with each backend's own differentiation
(`gradients`), and what kerascnn needs of Keras beyond its public API (`internals`). This
package's face imports nothing, so `import kerascnn` stays free of Keras."""
