"""The study's published numbers (../shared/paper/PAPER.md), the reference our tables sit beside.

These are the paper's values, never ours: ours are always computed.
"""

CORPORA = ('imdb', 'sst', 'ag_news', '20news')
EXPLAINERS = ('saliency', 'integrated_gradients', 'input_x_gradient', 'attention')
BASELINES = ('uniform', 'random')

TABLE2 = {  # test accuracy and F1 of the classifier
    'accuracy': {'imdb': .884, 'sst': .766, 'ag_news': .939, '20news': .770},
    'f1': {'imdb': .886, 'sst': .759, 'ag_news': .939, '20news': .767},
}

TABLE3 = {  # mean deletion rate until the label flips (lower = more faithful)
    'saliency': {'imdb': .570, 'sst': .508, 'ag_news': .677, '20news': .610},
    'integrated_gradients': {'imdb': .095, 'sst': .271, 'ag_news': .353, '20news': .274},
    'input_x_gradient': {'imdb': .101, 'sst': .292, 'ag_news': .397, '20news': .251},
    'attention': {'imdb': .479, 'sst': .545, 'ag_news': .644, '20news': .532},
}

TABLE4 = {  # weak learner test F1
    'saliency': {'imdb': .843, 'sst': .669, 'ag_news': .926, '20news': .723},
    'integrated_gradients': {'imdb': .887, 'sst': .725, 'ag_news': .940, '20news': .727},
    'input_x_gradient': {'imdb': .887, 'sst': .667, 'ag_news': .938, '20news': .741},
    'attention': {'imdb': .852, 'sst': .592, 'ag_news': .922, '20news': .660},
    'uniform': {'imdb': .862, 'sst': .728, 'ag_news': .932, '20news': .524},
    'random': {'imdb': .451, 'sst': .572, 'ag_news': .490, '20news': .453},
}

TABLE5 = {  # mean over test examples of the median TVD over 100 shuffles
    'saliency': {'imdb': .273, 'sst': .093, 'ag_news': .093, '20news': .164},
    'integrated_gradients': {'imdb': .369, 'sst': .314, 'ag_news': .365, '20news': .336},
    'input_x_gradient': {'imdb': .429, 'sst': .240, 'ag_news': .376, '20news': .388},
    'attention': {'imdb': .258, 'sst': .167, 'ag_news': .161, '20news': .307},
}
