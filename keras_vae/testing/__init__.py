from keras_vae.testing.test_case import TestCase, run_layer_test
