package tcp

// SetOutput replaces the Output c sends through. A connection a Listener
// made sends through the listener's until its socket is accepted; the
// stack then gives it the accepted socket's own (whose IP options, such
// as IP_TTL, may differ from the listener's once set).
func (c *Conn) SetOutput(out Output) { c.out = out }
