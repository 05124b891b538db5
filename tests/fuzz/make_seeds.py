#!/usr/bin/env python3
# Writes the seed corpora of tests/fuzz/corpus from the committed test fixtures (and three
# Fashion-MNIST samples from Debian's dataset-fashion-mnist). Needs h5py, e.g. the Keras reference env:
#   build/keras_reference/keras3/bin/python tests/fuzz/make_seeds.py   (from the repository root)
# The corpora are then minimised with tests/fuzz/run.sh --merge.
import gzip, glob, os, shutil, struct, zipfile, h5py, io, json
root = 'tests/fuzz/corpus'
shutil.rmtree(root, ignore_errors=True)
def put(target, name, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), 'wb').write(data)
files = 'tests/data/keras/files'
fixtures = sorted(os.listdir(files))
for f in fixtures:
    put('keras3_config', f + '.json', open(f'{files}/{f}/model.json', 'rb').read())
    if f != 'attention':
        put('keras_archive', f + '.keras', open(f'{files}/{f}/model.keras', 'rb').read())
# weights_h5: the first byte picks the model of fuzz_weights_h5.cpp's kFixtures, +4 reads the optimizer too
order = ['sequential', 'cnn', 'functional_shared', 'lstm_relu']
for i, f in enumerate(order):
    put('weights_h5', f + '.weights.h5', bytes([i]) + open(f'{files}/{f}/model.weights.h5', 'rb').read())
    inner = zipfile.ZipFile(f'{files}/{f}/model.keras').read('model.weights.h5')
    put('weights_h5', f + '_with_optimizer.weights.h5', bytes([i + 4]) + inner)
k2 = 'tests/data/keras/keras2'
for p in sorted(glob.glob(f'{k2}/*.json')):
    n = os.path.basename(p)
    if n == 'manifest.json': continue
    put('keras2_config', n, b'\x00' + open(p, 'rb').read())
for p in sorted(glob.glob(f'{k2}/*.h5')):
    n = os.path.basename(p)
    if n.endswith('_io.h5'): continue
    if n.endswith('_weights.h5'):
        put('legacy_h5', n, b'\x01' + open(p, 'rb').read()); continue
    put('legacy_h5', n, b'\x00' + open(p, 'rb').read())
    with h5py.File(p, 'r') as h:
        tc = h.attrs.get('training_config')
        if tc is not None:
            if isinstance(tc, bytes): tc = tc.decode()
            put('keras2_config', n.replace('.h5', '_training_config.json'), b'\x01' + tc.encode())
# idx: three images and three labels of Fashion-MNIST's test set, gzip'd and plain
ds = '/usr/share/datasets/fashion-mnist'
img = gzip.open(f'{ds}/t10k-images-idx3-ubyte.gz').read()
lab = gzip.open(f'{ds}/t10k-labels-idx1-ubyte.gz').read()
images = struct.pack('>IIII', 2051, 3, 28, 28) + img[16:16 + 3 * 784]
labels = struct.pack('>II', 2049, 3) + lab[8:11]
small = struct.pack('>IIII', 2051, 2, 2, 3) + bytes(range(12))
for name, data in [('images3', images), ('labels3', labels), ('images_2x2x3', small)]:
    put('idx', name + '.gz', gzip.compress(data, mtime=0))
    put('idx', name, data)
