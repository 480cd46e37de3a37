from zoo import layers
