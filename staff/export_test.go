package staff

// SetBeforeSession makes Login call f between its checks and the
// session's registration.
func (s *Service) SetBeforeSession(f func()) { s.beforeSession = f }
