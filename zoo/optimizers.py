"""Adam, each variable's update one fused kernel on TensorFlow."""

import keras


@keras.saving.register_keras_serializable(package="zoo")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` that updates each variable with TensorFlow's
    fused `ResourceApplyAdam` kernel (the kernel tf.keras 2's Adam ran).

    Keras 3 writes the update as a dozen separate ops, each a pass over the
    variable's size (`m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`, `w -=
    alpha m / (sqrt(v) + eps)`); the kernel makes one pass. The rule, the
    arguments and the variables (`m`, `v` and the step count) are Keras's, so
    checkpoints and resumed runs move between the two; the values agree to
    float32 rounding, not bit for bit (the kernel orders its arithmetic
    differently). Clipping, weight decay, EMA and loss scaling stay Keras's.

    Sparse gradients (an embedding's `IndexedSlices`) run Keras's own update,
    which is not dense Adam where a row is looked up more than once in a
    batch: its `v` takes the sum of each lookup's squared gradient, not the
    square of their sum. So do other backends, and `amsgrad`.
    """

    def update_step(self, gradient, variable, learning_rate):
        if keras.backend.backend() != "tensorflow" or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf  # the TensorFlow backend only: on others Keras's own Adam runs (above)

        if isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)

        var = variable.value if isinstance(variable, keras.Variable) else variable
        index = self._get_variable_index(variable)
        m, v = self._momentums[index].value, self._velocities[index].value
        dtype = var.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle, m=m.handle, v=v.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )
