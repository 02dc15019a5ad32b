"""
scikit-learn: a Pipeline and a grid search with nnc's MLPClassifier
===================================================================

:class:`nnc.sklearn.MLPClassifier` takes scikit-learn's parameter names and
defaults, so it drops into a :class:`~sklearn.pipeline.Pipeline` and a
:class:`~sklearn.model_selection.GridSearchCV` unchanged.  Here on
scikit-learn's 8 x 8 ``load_digits``, next to scikit-learn's own
``MLPClassifier`` with the same settings.

.. code-block:: bash

    python examples/sklearn_digits.py
"""
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nnc.sklearn import MLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                    stratify=y)

for label, est in [("nnc", MLPClassifier(random_state=0, threads=1)),
                   ("scikit-learn", SklearnMLP(random_state=0))]:
    model = make_pipeline(StandardScaler(), est)
    t0 = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - t0
    print(f"{label:>12}: test accuracy {model.score(X_test, y_test):.2%}, "
          f"{model[-1].n_iter_} epochs, {seconds:.2f} s")

# %%
# A grid search over the hidden layer and the L2 penalty, with 3-fold
# cross-validation.
search = GridSearchCV(make_pipeline(StandardScaler(),
                                    MLPClassifier(max_iter=50, random_state=0, threads=1)),
                      {"mlpclassifier__hidden_layer_sizes": [(32,), (64,)],
                       "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3)
search.fit(X_train, y_train)
print("best:", search.best_params_, f"mean CV accuracy {search.best_score_:.2%}")
print(f"test accuracy of the refitted best model: {search.score(X_test, y_test):.2%}")
