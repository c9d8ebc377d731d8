"""Numpydoc sections shared by the two cross-validated estimators of :mod:`convexrelu.cv`.

``_CV_PARAMS_DOC_FIRST`` and ``_CV_PARAMS_DOC_REST`` frame each estimator's
own parameters (``loss``, and the classifier's ``class_weight``);
``_CV_ATTRS_DOC`` is their common Attributes section.
"""

_CV_PARAMS_DOC_FIRST = """
    alphas : array-like of shape (n_alphas,), default=None
        The alphas to try.  None: ``n_alphas`` values on a geometric grid
        from ``alpha_max`` down to ``eps * alpha_max``, where ``alpha_max``
        is exact for the full data and ``n_patterns`` sampled patterns
        (drawn with ``random_state``; the solution over them is zero
        there).  With ``patterns="trained"`` (the default) the grid is the
        same, a data-dependent scale: the trained tuples' solution need not
        be zero at its first alpha.
    n_alphas : int, default=10
        Grid size when ``alphas`` is None.  A finer grid costs much less
        than in proportion: each fold's path is warm-started from point to
        point (on diabetes, 3 folds, 20 tuples, the fit took 1.2 times as
        long with 30 alphas and 1.9 times with 100 as with 10;
        ``benchmarks/bench_cv.py``).
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` of the computed grid.
    cv : int, cross-validation generator or iterable, default=None
        As in scikit-learn: None is 5-fold (stratified for the classifier),
        an int the number of folds.
    scoring : str or callable, default=None
        A scikit-learn scorer name or ``scorer(estimator, X, y)``; None uses
        the estimator's ``score`` (R^2 / accuracy).  Higher is better.  A
        callable gets, per fold and alpha, the path's network as a light
        fitted estimator (``predict``, ``score``, for the classifier
        ``decision_function`` and with log loss ``predict_proba``; the
        attributes ``alpha``, ``n_subnetworks_``, ``coefs_``,
        ``intercepts_``, ``objective_``, ``dual_gap_``, ``relative_gap_``),
        the test rows of X as passed to ``fit`` (a DataFrame stays one), and
        their ``sample_weight`` when it accepts that argument (as in
        ``GridSearchCV``; otherwise a warning says the scores are unweighted).
        ``neg_log_loss`` and the ``roc_auc_ov*`` scorers get
        ``labels=classes_`` (a test fold may lack a class), as in
        ``LogisticRegressionCV``.  A scorer that raises gives NaN there, with a
        warning, as ``GridSearchCV``'s ``error_score=nan``; NaN scores rank
        last.
    n_jobs : int, default=None
        Folds solved in parallel by joblib (None: 1 unless in a
        ``joblib.parallel_config`` context, whose backend is used, dask's
        included).  The refit at ``alpha_`` gets the same ``n_jobs``, as
        the plain estimator's parameter (its outputs' programs in
        parallel, a softmax's classes on threads).
    n_patterns : int, default=32
        Generating networks whose activation-pattern tuples are recorded.
    n_hidden : int, default=2
        First-layer width of every sub-network.
    patterns : {"trained", "sample"}, default="trained"
        "trained": the tuples of a parallel network trained as the plain
        estimators' default ``patterns="trained"`` does (better models on
        most data), once per fold at the grid's smallest alpha (a path
        shares one tuple set, and trained tuples depend on the alpha they
        are trained at); the refit is the plain estimator with trained
        tuples at ``alpha_``, as ``GridSearchCV``'s refit.  At that smallest
        alpha the fold scores are those of ``GridSearchCV`` over the plain
        estimator; elsewhere they use tuples trained at another alpha.
        "sample": random generating networks (the paper's method), drawn
        once, their tuples recomputed on each fold (the path's warm starts
        and the refit reuse them); at every alpha the fold scores are then
        those of ``GridSearchCV`` over the plain estimator with
        ``patterns="sample"``."""

_CV_PARAMS_DOC_REST = """
    fit_intercept : bool, default=True
        First-layer biases (a ones column) and an unpenalised output intercept.
    solver : str, default=None
        Convex solver (None: the package default).
    tol : float, default=1e-6
        Relative duality gap of every solve, in (0, 1).
    max_iter : int, default=1000
        Iteration limit of every solve (working-set rounds of the fast solver).
    random_state : int, RandomState instance or None, default=None
        Seed of the pattern sampling and of the generating networks'
        training.  An int gives the same patterns as the plain estimator
        with that ``random_state`` (with trained tuples: at the grid's
        smallest alpha).
    verbose : bool, default=False
        Print the solvers' progress.
    memory_limit : "auto", int, str or None, default="auto"
        Largest estimated memory, as the plain estimator's parameter: before
        any fold runs, ``fit`` estimates the refit on all rows (the largest
        single fit; :func:`convexrelu.memory.estimate_fit_memory`) and the
        folds' paths that joblib runs at once (``n_jobs`` of them, each on
        its training rows, counted together), and raises a
        :class:`~convexrelu.memory.FitMemoryError` when either is above the
        limit; the refit gets the same limit, and each of the paths run at
        once its share for the fast solver's exact fallback rounds (see the
        plain estimator's parameter).  ``"auto"``: half of the
        memory available at fit time; an int: bytes; a string such as
        ``"2GiB"``; None: no check (for a distributed joblib backend, whose
        workers do not share this machine's memory, pass None or a limit of
        its own)."""

_CV_ATTRS_DOC = """
    alpha_ : float
        The alpha with the best mean cross-validated score.
    alphas_ : ndarray of shape (n_alphas,)
        The grid, decreasing.
    alpha_max_ : float or None
        ``alpha_max`` of the full data when the grid was computed.
    cv_scores_ : ndarray of shape (n_splits, n_alphas)
        Test score of every fold and alpha.
    mean_cv_scores_ : ndarray of shape (n_alphas,)
    best_index_ : int
        Index of ``alpha_`` in ``alphas_``.
    best_score_ : float
        ``mean_cv_scores_[best_index_]``.
    cv_objectives_, cv_dual_gaps_, cv_relative_gaps_ : ndarray of shape (n_splits, n_alphas)
        Objective and certificate of every fold's path.
    cv_n_subnetworks_ : ndarray of shape (n_splits, n_alphas)
        Active sub-networks along every fold's path.
    cv_solve_times_ : ndarray of shape (n_splits, n_alphas)
    n_splits_ : int
    random_seed_ : int
        The seed the patterns were drawn with (``random_state`` when an int).
    best_estimator_ : estimator
        The plain estimator refitted on all data at ``alpha_``; ``predict``
        and the other methods delegate to it.
    coefs_, intercepts_ : list of ndarray
        The refitted network's weights and biases (attributes of
        ``best_estimator_``, as are all below up to ``convex_intercept_``).
    n_layers_, n_subnetworks_ : int
    network_ : ReLUNetwork
    objective_, dual_objective_, dual_gap_, relative_gap_ : float
        The refit's objective and certificate.
    constraint_violation_ : float
    converged_ : bool
    n_iter_ : int
    history_ : dict of ndarray
        The refit's working-set rounds (see the plain estimator's).
    solver_ : str
    fit_time_, patterns_time_ : float
        Seconds of the refit's solve and of making its tuples.
    n_patterns_ : int
    first_weights_, second_weights_ : ndarray
        Generating weights of the refit's tuples.
    convex_weights_, convex_intercept_ : ndarray
        The refit's convex solution.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
"""
