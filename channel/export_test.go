package channel

// SetRequestOpenedHook makes the server call f with every request frame it
// has just verified, in place (nil: none), so that a test can play a client
// that rewrites a committed request.
func SetRequestOpenedHook(f func(data []byte)) {
	if f == nil {
		testHookRequestOpened.Store(nil)
		return
	}
	testHookRequestOpened.Store(&f)
}
